"""Every oversight page × every role × own site / other site / expired / no membership, plus
anonymous visitors and a system administrator: no 2xx the rules do not allow, no refusal they do
not expect, every pattern of `carnet.oversight.urls` described. The lock and signature actions
lock or reach the e-signature check only for those allowed."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import URLPattern

from carnet.accounts.roles import GRANTS, Action, Role
from carnet.audit.models import AuditEvent
from carnet.capture.services import form_save
from carnet.oversight import urls as oversight_urls
from carnet.oversight.models import DataLock
from carnet.studies.services import study_mode_change
from carnet.subjects.models import Subject
from tests.accounts.personas import ADMIN, person
from tests.web.helpers import administrator_client
from tests.web.test_page_matrix import (
    SITUATIONS,
    sees_site_a,
    signed_in,
    subject_viewer,
    world_with_a_subject,
)

pytestmark = pytest.mark.django_db

Rule = Callable[[str, str], bool]
SUBJECT = "/studies/MINI/subjects/01-001/"


def reads_the_trail(role: str, situation: str) -> bool:
    """The whole study's trail: a right over every site (central roles for all sites)."""
    return situation == "own site" and Action.VIEW_AUDIT_TRAIL in GRANTS[role]


def locks_at_site_a(role: str, situation: str) -> bool:
    return situation == "own site" and Action.MANAGE_DATA in GRANTS[role]


def signs_at_site_a(role: str, situation: str) -> bool:
    return situation == "own site" and Action.SIGN_DATA in GRANTS[role]


PAGES: dict[str, tuple[str, Rule]] = {
    "studies/<str:identifier>/locks/": ("/studies/MINI/locks/", subject_viewer),
    "studies/<str:identifier>/subjects/<str:subject>/oversight/": (
        SUBJECT + "oversight/",
        sees_site_a,
    ),
    "studies/<str:identifier>/subjects/<str:subject>/forms/<str:event>/<int:occurrence>/"
    "<str:form>/oversight/": (SUBJECT + "forms/baseline/1/vitals/oversight/", sees_site_a),
    "studies/<str:identifier>/signatures/awaiting/": (
        "/studies/MINI/signatures/awaiting/",
        subject_viewer,
    ),
    "studies/<str:identifier>/audit/": ("/studies/MINI/audit/", reads_the_trail),
    "studies/<str:identifier>/audit.csv": ("/studies/MINI/audit.csv", reads_the_trail),
    "studies/<str:identifier>/audit.pdf": ("/studies/MINI/audit.pdf", reads_the_trail),
    "administration/audit/": ("/administration/audit/", reads_the_trail),
}
# Actions (POST only): no GET answers 2xx.
ACTIONS = {
    "studies/<str:identifier>/locks/site/": "/studies/MINI/locks/site/",
    "studies/<str:identifier>/locks/<int:pk>/unlock/": "/studies/MINI/locks/1/unlock/",
    "studies/<str:identifier>/subjects/<str:subject>/oversight/lock/": SUBJECT + "oversight/lock/",
    "studies/<str:identifier>/subjects/<str:subject>/oversight/sign/": SUBJECT + "oversight/sign/",
}


def test_the_table_describes_every_page() -> None:
    patterns = {str(p.pattern) for p in oversight_urls.urlpatterns if isinstance(p, URLPattern)}
    assert patterns == set(PAGES) | set(ACTIONS)


def test_no_oversight_page_or_action_lets_through_whom_it_should_not() -> None:
    w = world_with_a_subject()
    study_mode_change(actor=ADMIN, study=w.study, mode="production")
    entry = person("entry-a", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_a])
    form_save(
        actor=entry,
        subject=Subject.objects.get(identifier="01-001"),
        event="baseline",
        form="vitals",
        base_version=0,
        values={"weight": 70},
    )
    failures: list[str] = []
    anonymous = Client()
    for _pattern, (page, _rule) in PAGES.items():
        if 200 <= anonymous.get(page).status_code < 300:
            failures.append(f"anonymous {page}")
    n = 0
    for role in Role.values:
        for situation in SITUATIONS:
            n += 1
            client = signed_in(w, role, situation, n)
            for page, rule in PAGES.values():
                status = client.get(page).status_code
                if (200 <= status < 300) != rule(role, situation):
                    failures.append(f"{role} {situation} {page}: {status}")
            for page in ACTIONS.values():
                if 200 <= client.get(page).status_code < 300:
                    failures.append(f"{role} {situation} GET {page}")
            # A lock of a visit of its own (occurrence n): made only by those allowed.
            before = DataLock.objects.count()
            client.post(
                SUBJECT + "oversight/lock/", {"place": f"visit:baseline:{n}", "reason": "matrix"}
            )
            if (DataLock.objects.count() > before) != locks_at_site_a(role, situation):
                failures.append(f"{role} {situation} POST lock")
            # A signature with a wrong password: only the allowed reach the password check.
            refused = AuditEvent.objects.filter(action="signature.refused").count()
            client.post(
                SUBJECT + "oversight/sign/",
                {"place": "subject", "meaning": "x", "password": "not the password"},
            )
            reached = AuditEvent.objects.filter(action="signature.refused").count() > refused
            if reached != signs_at_site_a(role, situation):
                failures.append(f"{role} {situation} POST sign")
    admin = administrator_client()
    assert admin.get("/administration/audit/").status_code == 200
    assert admin.get("/studies/MINI/audit/").status_code == 404  # no membership: no data
    assert failures == []
