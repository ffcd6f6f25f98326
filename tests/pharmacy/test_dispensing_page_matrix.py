"""Every page of dispensing, accountability and resupply × every role × own site / other site /
expired / no membership, plus anonymous visitors: no 2xx the rules do not allow, no refusal they
do not expect, every dispensing page of `carnet.pharmacy.urls` (DISPENSING_PAGES) described."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import URLPattern

from carnet.accounts.roles import GRANTS, Action, Role
from carnet.pharmacy import urls as pharmacy_urls
from tests.web.test_page_matrix import SITUATIONS, signed_in, world_with_a_subject

pytestmark = pytest.mark.django_db

Rule = Callable[[str, str], bool]


def _holds(*actions: Action) -> Rule:
    def rule(role: str, situation: str) -> bool:
        return situation in {"own site", "other site"} and any(
            action in GRANTS[role] for action in actions
        )

    return rule


READERS = _holds(Action.DISPENSE, Action.MONITOR, Action.MANAGE_DATA, Action.MANAGE_STUDY)
PAGES: dict[str, tuple[str, Rule]] = {
    "studies/<str:identifier>/pharmacy/dispensing/": (
        "/studies/MINI/pharmacy/dispensing/",
        _holds(Action.DISPENSE),
    ),
    "studies/<str:identifier>/pharmacy/accountability/": (
        "/studies/MINI/pharmacy/accountability/",
        READERS,
    ),
    "studies/<str:identifier>/pharmacy/accountability.pdf": (
        "/studies/MINI/pharmacy/accountability.pdf",
        READERS,
    ),
    "studies/<str:identifier>/pharmacy/resupply/": ("/studies/MINI/pharmacy/resupply/", READERS),
}


def test_the_table_describes_every_page() -> None:
    patterns = {
        str(p.pattern)
        for p in pharmacy_urls.urlpatterns
        if isinstance(p, URLPattern) and p.name in pharmacy_urls.DISPENSING_PAGES
    }
    assert patterns == set(PAGES)


def test_no_dispensing_page_lets_through_whom_it_should_not() -> None:
    w = world_with_a_subject()
    failures: list[str] = []
    anonymous = Client()
    for page, _rule in PAGES.values():
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
            # Nobody dispenses a kit MINI does not have; nobody else may even try.
            answer = client.post(
                "/studies/MINI/pharmacy/dispensing/",
                {
                    "action": "dispense",
                    "site": "01",
                    "kit": "NOPE",
                    "on": "2026-01-05",
                    "dispensed_to": "x",
                },
            )
            if answer.status_code == 200:
                failures.append(f"{role} {situation} POST dispense")
    assert failures == []
