"""Every monitoring page × every role × own site / other site / expired / no membership, plus
anonymous visitors: no 2xx the rules do not allow, no refusal they do not expect, every pattern
of `carnet.monitoring.urls` described. Only a monitor of site A verifies 01-001's data."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest
from django.test import Client
from django.urls import URLPattern

from carnet.accounts.roles import GRANTS, Action, Role
from carnet.capture.services import form_save
from carnet.monitoring import urls as monitoring_urls
from carnet.monitoring.models import MonitoringVisit, SourceVerification
from carnet.monitoring.services import monitoring_visit_create
from carnet.studies.services import study_mode_change
from carnet.subjects.models import Subject
from tests.accounts.personas import ADMIN, person
from tests.web.helpers import administrator_client
from tests.web.test_page_matrix import (
    SITUATIONS,
    sees_site_a,
    signed_in,
    study_manager,
    subject_viewer,
    world_with_a_subject,
)

pytestmark = pytest.mark.django_db

Rule = Callable[[str, str], bool]
SUBJECT = "/studies/MINI/subjects/01-001/"
VISIT = "/studies/MINI/monitoring/visits/{visit}/"


def monitors_site_a(role: str, situation: str) -> bool:
    return situation == "own site" and Action.MONITOR in GRANTS[role]


PAGES: dict[str, tuple[str, Rule]] = {
    "studies/<str:identifier>/monitoring/": ("/studies/MINI/monitoring/", subject_viewer),
    "studies/<str:identifier>/monitoring/plan/": ("/studies/MINI/monitoring/plan/", study_manager),
    "studies/<str:identifier>/monitoring/visits/<int:pk>/": (VISIT, sees_site_a),
    "studies/<str:identifier>/monitoring/visits/<int:pk>/report.pdf": (
        VISIT + "report.pdf",
        sees_site_a,
    ),
    "studies/<str:identifier>/subjects/<str:subject>/sdv/": (SUBJECT + "sdv/", sees_site_a),
    "studies/<str:identifier>/subjects/<str:subject>/forms/<str:event>/<int:occurrence>/"
    "<str:form>/sdv/": (SUBJECT + "forms/baseline/1/vitals/sdv/", sees_site_a),
}
# Actions (POST only): no GET answers 2xx.
ACTIONS = {
    "studies/<str:identifier>/monitoring/visits/new/": "/studies/MINI/monitoring/visits/new/",
    "studies/<str:identifier>/monitoring/visits/<int:pk>/record/": VISIT + "record/",
    "studies/<str:identifier>/subjects/<str:subject>/sdv/verify/": SUBJECT + "sdv/verify/",
}


def test_the_table_describes_every_page() -> None:
    patterns = {str(p.pattern) for p in monitoring_urls.urlpatterns if isinstance(p, URLPattern)}
    assert patterns == set(PAGES) | set(ACTIONS)


def test_no_monitoring_page_or_action_lets_through_whom_it_should_not() -> None:
    w = world_with_a_subject()
    study_mode_change(actor=ADMIN, study=w.study, mode="production")
    entry = person("entry-a", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_a])
    subject = Subject.objects.get(identifier="01-001")
    form_save(
        actor=entry,
        subject=subject,
        event="baseline",
        form="vitals",
        base_version=0,
        values={"weight": 70, "height": 170, "sbp": 120},
    )
    monitor = person("monitor-a", study=w.study, role=Role.MONITOR, sites=[w.site_a])
    visit = monitoring_visit_create(
        actor=monitor, study=w.study, site=w.site_a, visit_date=date(2025, 6, 3)
    )
    failures: list[str] = []
    anonymous = Client()
    for page, _rule in PAGES.values():
        if 200 <= anonymous.get(page.format(visit=visit.pk)).status_code < 300:
            failures.append(f"anonymous {page}")
    n = 0
    for role in Role.values:
        for situation in SITUATIONS:
            n += 1
            client = signed_in(w, role, situation, n)
            for page, rule in PAGES.values():
                status = client.get(page.format(visit=visit.pk)).status_code
                if (200 <= status < 300) != rule(role, situation):
                    failures.append(f"{role} {situation} {page}: {status}")
            for page in ACTIONS.values():
                if 200 <= client.get(page.format(visit=visit.pk)).status_code < 300:
                    failures.append(f"{role} {situation} GET {page}")
            # One item each: verified only by those allowed (the others are refused).
            before = SourceVerification.objects.count()
            item = ["weight", "height", "sbp"][n % 3]
            client.post(
                SUBJECT + "sdv/verify/",
                {"event": "baseline", "occurrence": "1", "form": "vitals", "item": item},
            )
            verified = SourceVerification.objects.count() > before
            SourceVerification.objects.filter(item=item).delete()  # the next one may again
            if verified != monitors_site_a(role, situation):
                failures.append(f"{role} {situation} POST verify")
            opened = MonitoringVisit.objects.count()
            client.post(
                "/studies/MINI/monitoring/visits/new/", {"site": "01", "visit_date": "2025-06-04"}
            )
            if (MonitoringVisit.objects.count() > opened) != monitors_site_a(role, situation):
                failures.append(f"{role} {situation} POST visit")
    # A system administrator manages studies (the plan is a study's setting) but sees no data.
    admin = administrator_client()
    for page, _rule in PAGES.values():
        expected = 200 if page.endswith("/plan/") else 404
        assert admin.get(page.format(visit=visit.pk)).status_code == expected, page
    assert failures == []
