"""Issue 25 in Chromium: the pharmacist of site 01 receives a shipment kit by kit in the scan box
(an unknown kit and a kit scanned twice are refused by their number), closes the receipt with the
temperature record, then reports a temperature excursion that quarantines two kits. The arm is
never on the pharmacist's pages.

The study is MINI with a pharmacy in kits mode (tests/pharmacy/conftest.py), in production.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from carnet.pharmacy.models import Excursion, Kit, KitStatus, StockMovement
from tests.e2e.test_queries import sign_in
from tests.pharmacy.conftest import pharmacy_world

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
VIEWPORT = {"width": 1366, "height": 900}


def scan(page: Any, number: str) -> None:
    """Type a kit number in the scan box and press Enter, as a barcode reader does."""
    page.locator("#receipt-kit").fill(number)
    page.locator("#receipt-kit").press("Enter")


def test_the_pharmacist_receives_kit_by_kit_and_an_excursion_quarantines_two_kits(
    page: Any, tmp_path: Path
) -> None:
    pharmacy = pharmacy_world(tmp_path)
    numbers = pharmacy.stock(5)
    shipment = pharmacy.shipment(numbers[:4])
    page.set_viewport_size(VIEWPORT)

    sign_in(page, "phil")
    page.goto("/studies/MINI/")
    page.locator("#pharmacy-link").click()
    expect(page.locator("#site-title")).to_contain_text("Site 01")
    page.locator(f'a[data-shipment="{shipment.number}"]').click()
    expect(page.locator("#shipment-status")).to_contain_text("4 kits to receive")

    for number in ("K001", "K002", "K003"):
        scan(page, number)
        expect(page.locator("#shipment-received")).to_have_text(f"Kit {number} received.")
        expect(page.locator("#receipt-kit")).to_be_focused()
    scan(page, "K002")
    expect(page.locator("#shipment-problem")).to_have_text(
        "kit K002: it was received already (available)."
    )
    scan(page, "K005")  # at the depot, not in this shipment
    expect(page.locator("#shipment-problem")).to_have_text(
        f"kit K005: it is not in shipment {shipment.number}; set it aside and tell the depot."
    )
    expect(page.locator("#shipment-status")).to_contain_text("1 kit to receive")

    page.locator("#temperature-record").fill("logger 4411: min 16.2 °C, max 23.9 °C")
    page.get_by_role("button", name="Close the receipt").click()
    expect(page.locator("#shipment-temperature")).to_contain_text("within range")
    expect(page.locator('tr[data-kit="K004"]')).to_contain_text("missing")
    expect(page.locator('tr[data-kit="K001"]')).to_contain_text("available")
    for arm in ("experimental", "placebo"):
        expect(page.locator("body")).not_to_contain_text(arm)

    page.get_by_role("link", name="Pharmacy of the site").click()
    page.locator("#excursion-new-link").click()
    page.get_by_label("Kits concerned").fill("K001\nK003")
    page.get_by_label("What happened").fill("Fridge door left open overnight")
    page.get_by_label("Highest temperature").fill("14.5")
    page.get_by_label("Duration (minutes)").fill("420")
    page.get_by_role("button", name="Report and quarantine").click()
    expect(page.locator("#excursion-status")).to_have_text(
        "The kits are quarantined until the sponsor decides."
    )
    expect(page.locator('tr[data-kit="K001"]')).to_contain_text("quarantined, waiting")
    expect(page.locator('tr[data-kit="K003"]')).to_contain_text("quarantined, waiting")

    page.get_by_role("link", name="Pharmacy of the site").click()
    expect(page.locator('#pharmacy-stock tr[data-status="quarantined"]')).to_contain_text("2")
    expect(page.locator('#pharmacy-stock tr[data-status="available"]')).to_contain_text("1")
    for arm in ("experimental", "placebo"):
        expect(page.locator("body")).not_to_contain_text(arm)

    statuses = dict(Kit.objects.values_list("number", "status"))
    assert statuses == {
        "K001": KitStatus.QUARANTINED,
        "K002": KitStatus.AVAILABLE,
        "K003": KitStatus.QUARANTINED,
        "K004": KitStatus.MISSING,
        "K005": KitStatus.AT_DEPOT,
    }
    # What an assignment may take at site 01: the available kits only.
    assert list(
        Kit.objects.filter(site=pharmacy.site_a, status=KitStatus.AVAILABLE).values_list(
            "number", flat=True
        )
    ) == ["K002"]
    excursion = Excursion.objects.get()
    assert excursion.maximum_temperature == 14.5
    assert {m.actor for m in StockMovement.objects.filter(kind="quarantined")} == {
        pharmacy.pharmacist.display_name()
    }
