"""Every pharmacy page × every role × own site / other site / expired / no membership, plus
anonymous visitors: no 2xx the rules do not allow, no refusal they do not expect, every pattern
of `carnet.pharmacy.urls` described. Only the pharmacist of site A receives its shipment's kits."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client
from django.urls import URLPattern

from carnet.accounts.roles import GRANTS, Action, Role
from carnet.pharmacy import urls as pharmacy_urls
from carnet.pharmacy.excursions import excursion_report
from carnet.pharmacy.models import Kit, KitStatus
from carnet.pharmacy.shipments import shipment_receive_kit
from tests.pharmacy.conftest import pharmacy_world
from tests.web.helpers import administrator_client
from tests.web.test_page_matrix import SITUATIONS, signed_in

pytestmark = pytest.mark.django_db

READERS = (Action.VIEW_SUBJECTS, Action.DISPENSE, Action.MONITOR, Action.MANAGE_SUPPLY)
BASE = "/studies/MINI/pharmacy/"
SHIPMENT = BASE + "shipments/S01-0001/"
EXCURSION = BASE + "excursions/{excursion}/"


def reads_stock(role: str, situation: str) -> bool:
    """The pharmacy of the sites one reads: whoever sees subjects, dispenses, monitors or
    supplies somewhere (each sees their own sites)."""
    return situation in {"own site", "other site"} and any(a in GRANTS[role] for a in READERS)


def reads_site_a(role: str, situation: str) -> bool:
    return situation == "own site" and any(a in GRANTS[role] for a in READERS)


def receives_at_site_a(role: str, situation: str) -> bool:
    return situation == "own site" and Action.DISPENSE in GRANTS[role]


PAGES = {
    "studies/<str:identifier>/pharmacy/": (BASE, reads_stock),
    "studies/<str:identifier>/pharmacy/shipments/<str:number>/": (SHIPMENT, reads_site_a),
    "studies/<str:identifier>/pharmacy/excursions/new/": (
        BASE + "excursions/new/?site=01",
        reads_site_a,
    ),
    "studies/<str:identifier>/pharmacy/excursions/<int:pk>/": (EXCURSION, reads_site_a),
}
# Actions (POST only): no GET answers 2xx.
ACTIONS = {
    "studies/<str:identifier>/pharmacy/shipments/new/": BASE + "shipments/new/",
    "studies/<str:identifier>/pharmacy/shipments/<str:number>/send/": SHIPMENT + "send/",
    "studies/<str:identifier>/pharmacy/shipments/<str:number>/receipt/": SHIPMENT + "receipt/",
    "studies/<str:identifier>/pharmacy/shipments/<str:number>/close/": SHIPMENT + "close/",
    "studies/<str:identifier>/pharmacy/excursions/<int:pk>/decide/": EXCURSION + "decide/",
}


def test_the_table_describes_every_page() -> None:
    # The dispensing, accountability and resupply pages have their own table
    # (tests/pharmacy/test_dispensing_page_matrix.py).
    patterns = {str(p.pattern) for p in pharmacy_urls.urlpatterns if isinstance(p, URLPattern)}
    dispensing = {
        str(p.pattern)
        for p in pharmacy_urls.urlpatterns
        if isinstance(p, URLPattern) and p.name in pharmacy_urls.DISPENSING_PAGES
    }
    assert patterns - dispensing == set(PAGES) | set(ACTIONS)


def test_no_pharmacy_page_or_action_lets_through_whom_it_should_not(tmp_path: Path) -> None:
    pharmacy = pharmacy_world(tmp_path)
    numbers = pharmacy.stock(80)
    shipment = pharmacy.shipment(numbers)
    assert shipment.number == "S01-0001"
    shipment_receive_kit(actor=pharmacy.pharmacist, shipment=shipment, number="K001")
    excursion = excursion_report(
        actor=pharmacy.pharmacist,
        study=pharmacy.study,
        site=pharmacy.site_a,
        numbers=["K001"],
        description="fridge at 12 °C",
    )
    failures: list[str] = []
    anonymous = Client()
    for page, _rule in PAGES.values():
        if 200 <= anonymous.get(page.format(excursion=excursion.pk)).status_code < 300:
            failures.append(f"anonymous {page}")
    n = 0
    waiting = iter(numbers[1:])
    kit = next(waiting)
    for role in Role.values:
        for situation in SITUATIONS:
            n += 1
            client = signed_in(pharmacy.world, role, situation, n)
            for page, rule in PAGES.values():
                status = client.get(page.format(excursion=excursion.pk)).status_code
                if (200 <= status < 300) != rule(role, situation):
                    failures.append(f"{role} {situation} {page}: {status}")
            for page in ACTIONS.values():
                if 200 <= client.get(page.format(excursion=excursion.pk)).status_code < 300:
                    failures.append(f"{role} {situation} GET {page}")
            client.post(SHIPMENT + "receipt/", {"kit": kit})
            received = Kit.objects.get(number=kit).status == KitStatus.AVAILABLE
            if received != receives_at_site_a(role, situation):
                failures.append(f"{role} {situation} POST receipt")
            if received:
                kit = next(waiting)
    # A system administrator manages studies but reads no stock.
    admin = administrator_client()
    for page, _rule in PAGES.values():
        assert admin.get(page.format(excursion=excursion.pk)).status_code == 404, page
    assert failures == []
