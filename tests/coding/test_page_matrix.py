"""Every coding page × every role × own site / other site / expired / no membership, plus
anonymous visitors: no 2xx the rules do not allow, no refusal they do not expect, every pattern
of `carnet.coding.urls` described. Only a coder covering site A codes 01-001's term."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from django.test import Client
from django.urls import URLPattern

from carnet.accounts.roles import GRANTS, Action, Role
from carnet.capture.services import form_save
from carnet.coding import urls as coding_urls
from carnet.coding.models import CodedTerm, TermStatus
from carnet.coding.services import coding_target_set, meddra_load
from carnet.subjects.models import Subject
from tests.accounts.personas import ADMIN, person
from tests.coding.conftest import CLI
from tests.coding.dictionary import write_meddra
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
TERM = "/studies/MINI/coding/terms/{term}/"


def codes_anywhere(role: str, situation: str) -> bool:
    return situation in {"own site", "other site"} and Action.CODE_TERMS in GRANTS[role]


def codes_site_a(role: str, situation: str) -> bool:
    return situation == "own site" and Action.CODE_TERMS in GRANTS[role]


PAGES: dict[str, tuple[str, Rule]] = {
    "studies/<str:identifier>/coding/": ("/studies/MINI/coding/", subject_viewer),
    "studies/<str:identifier>/coding/terms/<int:pk>/": (TERM, sees_site_a),
    "studies/<str:identifier>/coding/recode/": ("/studies/MINI/coding/recode/", codes_anywhere),
}
# The installation's dictionaries: its administrators only (no study role opens them).
ADMINISTRATOR_PAGES = {"coding/dictionaries/": "/coding/dictionaries/"}
ACTIONS = {
    "studies/<str:identifier>/coding/terms/<int:pk>/code/": TERM + "code/",
    "studies/<str:identifier>/coding/terms/<int:pk>/query/": TERM + "query/",
}


def test_the_table_describes_every_page() -> None:
    patterns = {str(p.pattern) for p in coding_urls.urlpatterns if isinstance(p, URLPattern)}
    assert patterns == set(PAGES) | set(ACTIONS) | set(ADMINISTRATOR_PAGES)


def test_no_coding_page_or_action_lets_through_whom_it_should_not(tmp_path: Path) -> None:
    w = world_with_a_subject(production=True)
    meddra = meddra_load(actor=CLI, folder=write_meddra(tmp_path / "m"), version="1.0")
    coding_target_set(actor=ADMIN, study=w.study, form="vitals", item="sbp", dictionary=meddra)
    entry = person("entry-a", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_a])
    form_save(
        actor=entry,
        subject=Subject.objects.get(identifier="01-001"),
        event="baseline",
        form="vitals",
        base_version=0,
        values={"weight": 70, "height": 170, "sbp": 120},
    )
    term = CodedTerm.objects.get()
    assert term.status == TermStatus.UNCODED
    failures: list[str] = []
    anonymous = Client()
    for page, _rule in [*PAGES.values(), *((p, None) for p in ADMINISTRATOR_PAGES.values())]:
        if 200 <= anonymous.get(page.format(term=term.pk)).status_code < 300:
            failures.append(f"anonymous {page}")
    n = 0
    for role in Role.values:
        for situation in SITUATIONS:
            n += 1
            client = signed_in(w, role, situation, n)
            for page, rule in PAGES.values():
                status = client.get(page.format(term=term.pk)).status_code
                if (200 <= status < 300) != rule(role, situation):
                    failures.append(f"{role} {situation} {page}: {status}")
            for page in ADMINISTRATOR_PAGES.values():
                if client.get(page).status_code != 404:
                    failures.append(f"{role} {situation} {page}")
                if client.post(page, {"kind": "meddra", "version": "x"}).status_code != 404:
                    failures.append(f"{role} {situation} POST {page}")
            for page in ACTIONS.values():
                if 200 <= client.get(page.format(term=term.pk)).status_code < 300:
                    failures.append(f"{role} {situation} GET {page}")
            client.post(TERM.format(term=term.pk) + "code/", {"code": "94000002"})
            term.refresh_from_db()
            if (term.status == TermStatus.CODED) != codes_site_a(role, situation):
                failures.append(f"{role} {situation} POST code")
            CodedTerm.objects.filter(pk=term.pk).update(status=TermStatus.UNCODED)
    admin = administrator_client()
    for page, _rule in PAGES.values():
        assert admin.get(page.format(term=term.pk)).status_code == 404, page
    for page in ADMINISTRATOR_PAGES.values():
        assert admin.get(page).status_code == 200, page
    assert failures == []


def test_the_study_page_links_the_coding_queue() -> None:
    w = world_with_a_subject()
    client = signed_in(w, Role.CODER, "own site", 1)
    assert b'id="coding-link"' in client.get("/studies/MINI/").content
