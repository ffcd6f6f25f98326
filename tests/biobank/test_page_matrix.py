"""Every page of sample collection × every role × own site / other site / expired / no
membership, plus anonymous visitors: no 2xx the rules do not allow, no refusal they do not
expect, every pattern of `carnet.biobank.urls` this module owns described. Only the site's staff
who enter data and the biobank technicians of site A record a sample of 01-001."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from django.test import Client
from django.urls import URLPattern

from carnet.accounts.roles import GRANTS, Action, Role
from carnet.biobank import urls as biobank_urls
from carnet.biobank.models import Sample
from carnet.studies.definition import study_file_read
from carnet.studies.services import study_load, study_publish
from tests.accounts.personas import ADMIN
from tests.biobank.conftest import amended_study
from tests.web.test_page_matrix import SITUATIONS, signed_in, world_with_a_subject

pytestmark = pytest.mark.django_db

Rule = Callable[[str, str], bool]
STUDY = "/studies/MINI/"


def sees_samples_somewhere(role: str, situation: str) -> bool:
    return situation in {"own site", "other site"} and bool(
        {Action.VIEW_SUBJECTS, Action.MANAGE_SAMPLES} & GRANTS[role]
    )


def sees_samples_at_a(role: str, situation: str) -> bool:
    return situation == "own site" and bool(
        {Action.VIEW_SUBJECTS, Action.MANAGE_SAMPLES} & GRANTS[role]
    )


def records_samples_at_a(role: str, situation: str) -> bool:
    return situation == "own site" and bool(
        {Action.ENTER_DATA, Action.MANAGE_SAMPLES} & GRANTS[role]
    )


PAGES: dict[str, tuple[str, Rule]] = {
    "studies/<str:identifier>/samples/": (STUDY + "samples/", sees_samples_somewhere),
    "studies/<str:identifier>/samples/missing/": (
        STUDY + "samples/missing/",
        sees_samples_somewhere,
    ),
    "studies/<str:identifier>/subjects/<str:subject>/samples/": (
        STUDY + "subjects/01-001/samples/",
        sees_samples_at_a,
    ),
    "studies/<str:identifier>/samples/<str:sample>/": (
        STUDY + "samples/MINI-01-001-PLASMA-1/",
        sees_samples_at_a,
    ),
}
ACTIONS = {
    "studies/<str:identifier>/subjects/<str:subject>/samples/collect/": (
        STUDY + "subjects/01-001/samples/collect/"
    ),
    "studies/<str:identifier>/samples/<str:sample>/process/": (
        STUDY + "samples/MINI-01-001-PLASMA-1/process/"
    ),
}


def test_the_table_describes_every_collection_page() -> None:
    patterns = {str(p.pattern) for p in biobank_urls.urlpatterns if isinstance(p, URLPattern)}
    assert set(PAGES) | set(ACTIONS) <= patterns


def test_no_collection_page_or_action_lets_through_whom_it_should_not(tmp_path: Path) -> None:
    w = world_with_a_subject(production=True)
    study_load(
        actor=ADMIN, study_file=study_file_read(amended_study(tmp_path)), source_name="mini.yaml"
    )
    study_publish(actor=ADMIN, study=w.study)
    failures: list[str] = []
    anonymous = Client()
    n = 0
    for role in Role.values:
        for situation in SITUATIONS:
            n += 1
            client = signed_in(w, role, situation, n)
            before = Sample.objects.count()
            client.post(
                STUDY + "subjects/01-001/samples/collect/",
                {"event": "baseline", "code": "plasma", "collected_at": "2026-01-05T09:00"},
            )
            recorded = Sample.objects.count() > before
            if recorded != records_samples_at_a(role, situation):
                failures.append(f"{role} {situation} POST collect")
            if not Sample.objects.exists():
                continue
            for page, rule in PAGES.values():
                status = client.get(page).status_code
                if (200 <= status < 300) != rule(role, situation):
                    failures.append(f"{role} {situation} {page}: {status}")
            for page in ACTIONS.values():
                if 200 <= client.get(page).status_code < 300:
                    failures.append(f"{role} {situation} GET {page}")
    for page, _rule in PAGES.values():
        if 200 <= anonymous.get(page).status_code < 300:
            failures.append(f"anonymous {page}")
    assert Sample.objects.exists()
    assert failures == []
