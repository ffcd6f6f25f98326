"""What a casebook must show whatever its schedule computes: every stored form instance.

Used by the tests that load the demo (tests/demo/test_demo_patients.py), so the check runs
on patients as the demo generator makes them, without a second slow load.
"""

from __future__ import annotations

from collections import defaultdict

from django.test import Client

from carnet.accounts.models import User
from carnet.capture.models import FormInstance
from carnet.capture.rules import study_rules
from carnet.subjects.models import Subject


def casebooks_missing_forms(user: User) -> list[str]:
    """Return, for every subject ``user`` may see, the stored form instances its casebook page
    or its API casebook does not show (an empty list when every one is there)."""
    client = Client()
    client.force_login(user)
    missing: list[str] = []
    stored: dict[int, list[FormInstance]] = defaultdict(list)
    for instance in FormInstance.objects.order_by("subject_id", "event", "occurrence", "repeat"):
        stored[instance.subject_id].append(instance)
    subjects = Subject.objects.select_related("study", "study__current_version")
    for subject in subjects.order_by("study__identifier", "identifier"):
        version = subject.study.current_version
        assert version is not None
        repeating = {f.name for f in study_rules(version).definition.forms if f.repeating}
        base = f"/studies/{subject.study.identifier}/subjects/{subject.identifier}/"
        page = client.get(base + "casebook/")
        assert page.status_code == 200, (subject.identifier, page.status_code)
        html = page.content.decode()
        api = client.get(f"/api{base}casebook")
        assert api.status_code == 200, (subject.identifier, api.content)
        shown = {
            (column["event"], column["occurrence"], cell["form"], instance["repeat"])
            for column in api.json()
            for cell in column["forms"]
            for instance in cell["instances"]
        }
        for instance in stored[subject.pk]:
            where = f"{subject.study.identifier} {subject.identifier} {instance.event}/"
            where += f"{instance.occurrence}/{instance.form}#{instance.repeat}"
            link = f"{base}forms/{instance.event}/{instance.occurrence}/{instance.form}/"
            if instance.form in repeating:
                link += f"?repeat={instance.repeat}"
            if f'href="{link}"' not in html:
                missing.append(f"page: {where}")
            key = (instance.event, instance.occurrence, instance.form, instance.repeat)
            if key not in shown:
                missing.append(f"api: {where}")
    return missing
