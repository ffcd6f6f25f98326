"""An import that creates the subjects its files name, when the study's import settings let it:
off by default, audited when changed, all or nothing with the forms, refused line by line."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from carnet.accounts.models import User
from carnet.accounts.permissions import PermissionDenied
from carnet.accounts.roles import Role
from carnet.audit.models import AuditEvent
from carnet.capture.bulk import ImportRefused, files_import
from carnet.capture.bulk.settings import import_settings_of, import_settings_set
from carnet.capture.models import FormInstance, ItemValue
from carnet.core.errors import ValidationError
from carnet.subjects.models import Subject
from tests.accounts.personas import ADMIN, person, with_second_factor
from tests.capture.conftest import Capture

pytestmark = pytest.mark.django_db

REASON = "Migration from the former database"


def signed_in(user: User) -> Client:
    """Return a client signed in as the person, with the second factor their roles ask for."""
    client = Client()
    client.force_login(with_second_factor(user))
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = TOTPDevice.objects.get(user=user).persistent_id
    session.save()
    return client


def run(c: Capture, text: str, *, dry_run: bool = False, actor=None):  # type: ignore[no-untyped-def]
    return files_import(
        actor=actor or c.entry,
        study=c.world.study,
        files=[("vitals.csv", io.BytesIO(text.encode()))],
        reason=REASON,
        dry_run=dry_run,
    )


def creating(c: Capture) -> None:
    import_settings_set(actor=ADMIN, study=c.world.study, creates_subjects=True, reason="Migration")


def test_an_import_does_not_create_subjects_by_default(capture: Capture) -> None:
    assert import_settings_of(capture.world.study).creates_subjects is False
    site = capture.world.site_a.code
    with pytest.raises(ImportRefused) as refused:
        run(capture, f"subject,site,event,weight\nOLD-1,{site},baseline,70\n")
    assert [str(p) for p in refused.value.problems] == [
        "vitals.csv:2, subject: no subject 'OLD-1' in this study (an import does not create "
        "subjects)."
    ]
    assert not Subject.objects.filter(identifier="OLD-1").exists()


def test_the_setting_is_changed_by_whoever_manages_the_study_with_a_reason(
    capture: Capture,
) -> None:
    study = capture.world.study
    with pytest.raises(PermissionDenied):
        import_settings_set(actor=capture.entry, study=study, creates_subjects=True, reason="x")
    with pytest.raises(ValidationError, match="Say why"):
        import_settings_set(actor=ADMIN, study=study, creates_subjects=True, reason=" ")
    manager = person("dm", study=study, role=Role.DATA_MANAGER)
    import_settings_set(actor=manager, study=study, creates_subjects=True, reason="Migration")
    assert import_settings_of(study).creates_subjects is True
    event = AuditEvent.objects.filter(action="import.settings_changed").get()
    assert (event.old, event.new, event.reason) == (
        {"creates_subjects": False},
        {"creates_subjects": True},
        "Migration",
    )


def test_a_dry_run_says_how_many_subjects_it_would_create_and_writes_nothing(
    capture: Capture,
) -> None:
    creating(capture)
    site = capture.world.site_a.code
    subjects, events = Subject.objects.count(), AuditEvent.objects.count()
    outcome = run(
        capture,
        f"subject,site,event,weight\nOLD-1,{site},baseline,70\nOLD-2,{site},baseline,80\n"
        f"{capture.subject.identifier},,baseline,75\n",
        dry_run=True,
    )
    assert outcome.problems == []
    assert (outcome.subjects_created, outcome.instances_changed) == (2, 3)
    assert (Subject.objects.count(), AuditEvent.objects.count()) == (subjects, events)
    assert not FormInstance.objects.exists()


def test_an_import_creates_its_subjects_at_their_site_audited_with_the_forms(
    capture: Capture,
) -> None:
    creating(capture)
    site = capture.world.site_a
    outcome = run(
        capture,
        f"subject,site,included_on,event,weight\nOLD-1,{site.code},2025-06-02,baseline,70\n",
    )
    assert outcome.subjects_created == 1
    subject = Subject.objects.get(identifier="OLD-1")
    assert (subject.site, subject.included_on, subject.study_status) == (
        site,
        date(2025, 6, 2),
        "included",
    )
    assert ItemValue.objects.get(form_instance__subject=subject, item="weight").text == "70"
    event = AuditEvent.objects.get(action="subject.imported")
    assert (event.reason, event.new["site"]) == (REASON, site.code)
    # A second run of the same import changes nothing and creates nobody.
    again = run(
        capture,
        f"subject,site,included_on,event,weight\nOLD-1,{site.code},2025-06-02,baseline,70\n",
    )
    assert (again.subjects_created, again.values_changed) == (0, 0)


def test_a_bad_site_is_located_and_nothing_is_written(capture: Capture) -> None:
    creating(capture)
    a, b = capture.world.site_a.code, capture.world.site_b.code
    text = (
        "subject,site,event,weight\n"
        f"OLD-1,{a},baseline,70\n"
        "OLD-2,ZZ,baseline,70\n"
        f"OLD-3,{b},baseline,70\n"
        "OLD-4,,baseline,70\n"
    )
    with pytest.raises(ImportRefused) as refused:
        run(capture, text)
    assert [str(p) for p in refused.value.problems] == [
        "vitals.csv:3, site: MINI has no site 'ZZ'.",
        f"vitals.csv:4, site: you may not register subjects at site {b}.",
        "vitals.csv:5, site: 'OLD-4' is not a subject of this study yet: give the site to "
        f"register it at ({', '.join(sorted([a, b]))}).",
    ]
    assert not Subject.objects.filter(identifier__startswith="OLD-").exists()
    assert not FormInstance.objects.exists()


def test_a_bad_value_refuses_the_subjects_too(capture: Capture) -> None:
    creating(capture)
    site = capture.world.site_a.code
    with pytest.raises(ImportRefused) as refused:
        run(capture, f"subject,site,event,weight\nOLD-1,{site},baseline,12\n")
    assert [str(p) for p in refused.value.problems] == [
        "vitals.csv:2, weight: 12 is below the minimum 20 kg."
    ]
    assert not Subject.objects.filter(identifier="OLD-1").exists()
    assert not AuditEvent.objects.filter(action="subject.imported").exists()


def test_the_command_line_and_the_api_show_and_change_the_setting(
    capture: Capture, tmp_path: Path
) -> None:
    out = io.StringIO()
    call_command("import", "settings", "MINI", stdout=out)
    assert out.getvalue().strip() == "creates_subjects=off"
    out = io.StringIO()
    call_command(
        "import", "settings", "MINI", "--creates-subjects", "on", "--reason", "Mig", stdout=out
    )
    assert out.getvalue().strip() == "creates_subjects=on"
    path = tmp_path / "vitals.csv"
    path.write_text(
        f"subject;site;event;weight\nOLD-9;{capture.world.site_a.code};baseline;70\n",
        encoding="utf-8",
    )
    out = io.StringIO()
    call_command("import", "MINI", str(path), "--reason", REASON, "--dry-run", stdout=out)
    assert "Dry run: 1 subjects would be created." in out.getvalue()
    manager = person("dm", study=capture.world.study, role=Role.DATA_MANAGER)
    client = signed_in(manager)
    url = "/api/studies/MINI/imports/settings"
    assert client.get(url).json() == {"creates_subjects": True}
    changed = client.put(
        url, {"creates_subjects": False, "reason": "done"}, content_type="application/json"
    )
    assert changed.status_code == 200, changed.content
    assert import_settings_of(capture.world.study).creates_subjects is False
    client = Client()
    client.force_login(capture.entry)
    refused = client.put(
        url, {"creates_subjects": True, "reason": "x"}, content_type="application/json"
    )
    assert refused.status_code == 403


def test_the_import_page_changes_the_setting_for_a_manager_only(capture: Capture) -> None:
    url = reverse("capture:import", args=["MINI"])
    manager = person("dm", study=capture.world.study, role=Role.DATA_MANAGER)
    client = signed_in(manager)
    page = client.post(
        url, {"action": "settings", "creates_subjects": "1", "settings_reason": "Migration"}
    )
    assert page.status_code == 200
    assert "Import settings changed." in page.content.decode()
    assert import_settings_of(capture.world.study).creates_subjects is True
    client = Client()
    client.force_login(capture.entry)
    page = client.post(url, {"action": "settings", "settings_reason": "x"})
    assert "Import settings changed." not in page.content.decode()
    assert import_settings_of(capture.world.study).creates_subjects is True
