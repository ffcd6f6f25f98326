"""Issue 25's "Done when" in Chromium: the pharmacist of site 01 receives a shipment kit by kit, a
nurse randomises a patient (the kit of the first treatment visit is assigned then), and the
pharmacist dispenses the assigned kit without ever seeing the arm; a temperature excursion
quarantines the two other kits of that arm, which are then not assigned (the next visit finds no
usable kit); the accountability log of site 01 balances and prints (PDF).

The study is MINI in kit mode (tests/pharmacy/dispensing_world.py: minimisation, a treatment
visit seven days after randomisation, then 14-day cycles), in production, double-blind. The
guide's pictures (docs/guide/pharmacist.md) are written here.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from carnet.core.clock import utc_today
from carnet.pharmacy.models import Dispensing, Kit, KitStatus
from carnet.pharmacy.shipments import shipment_create, shipment_send
from carnet.pharmacy.supply import kits_generate
from carnet.randomization.models import Allocation
from tests.e2e.test_guide import IMAGES
from tests.e2e.test_queries import sign_in
from tests.pharmacy.dispensing_world import pharmacy_trial

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
VIEWPORT = {"width": 1366, "height": 900}
ARMS = ("experimental", "placebo")


@pytest.fixture(autouse=True)
def _patient_on_a_loaded_machine() -> Iterator[None]:
    """The receipt of six kits, a randomisation and a PDF in one test: on a machine shared by
    many runs a page may take longer than the suite's usual wait (restored afterwards)."""
    expect.set_options(timeout=30_000)
    yield
    expect.set_options(timeout=5_000)


def scan(page: Any, number: str) -> None:
    """Type a kit number in the scan box and press Enter, as a barcode reader does."""
    page.locator("#receipt-kit").fill(number)
    page.locator("#receipt-kit").press("Enter")


def no_arm(page: Any) -> None:
    for arm in ARMS:
        expect(page.locator("body")).not_to_contain_text(arm)


def test_the_pharmacist_receives_dispenses_blind_quarantines_and_the_log_balances(
    page: Any, tmp_path: Path
) -> None:
    trial = pharmacy_trial(tmp_path)
    study = trial.world.study
    page.set_viewport_size(VIEWPORT)
    page.set_default_timeout(60_000)
    # The depot: three kits of each arm in batch B1 (shuffled across the numbers), sent to 01.
    kits = kits_generate(
        actor=trial.manager, study=study, batch=trial.batch, per_content=3, pattern="4172{seq:02}"
    )
    numbers = sorted(kit.number for kit in kits)
    shipment = shipment_send(
        actor=trial.manager,
        shipment=shipment_create(
            actor=trial.manager,
            study=study,
            site=trial.world.site_a,
            numbers=numbers,
            today=utc_today(),
        ),
    )

    # The pharmacist receives the parcel kit by kit.
    sign_in(page, "phil")
    page.goto("/studies/MINI/")
    page.locator("#pharmacy-link").click()
    page.locator(f'a[data-shipment="{shipment.number}"]').click()
    expect(page.locator("#shipment-status")).to_contain_text("6 kits to receive")
    for number in numbers:
        scan(page, number)
        expect(page.locator("#shipment-received")).to_have_text(f"Kit {number} received.")
    page.locator("#temperature-record").fill("logger 4411: min 3.4 °C, max 6.9 °C, 30 h")
    page.get_by_role("button", name="Close the receipt").click()
    expect(page.locator("#shipment-temperature")).to_contain_text("within range")
    no_arm(page)
    page.screenshot(path=str(IMAGES / "pharmacist-receipt.png"), full_page=True)
    assert Kit.objects.filter(status=KitStatus.AVAILABLE).count() == 6

    # A nurse randomises a patient: the kit of the treatment visit is assigned, the arm hidden.
    trial.include(smoker=1, on=utc_today())
    page.context.clear_cookies()
    sign_in(page, "julie")
    page.goto("/studies/MINI/subjects/01-001/randomisation/")
    page.get_by_role("button", name="Confirm and randomise").click()
    page.wait_for_selector("#allocation-kit")
    allocation = Allocation.objects.get()
    kit = Kit.objects.get(number=allocation.kit_number)
    assert (kit.status, kit.event, kit.content) == (KitStatus.ASSIGNED, "treatment", allocation.arm)
    assert page.locator("#allocation-arm").inner_text() == "(blinded)"

    # The pharmacist dispenses the kit assigned, and sees its number, never what it holds.
    page.context.clear_cookies()
    sign_in(page, "phil")
    page.goto("/studies/MINI/")
    page.locator("#pharmacy-dispensing-link").click()
    expect(page.locator(f'#kits-awaiting tr[data-kit="{kit.number}"]')).to_contain_text("01-001")
    no_arm(page)
    page.locator("#dispense-kit").fill(kit.number)
    page.locator("#dispense-to").fill("Day unit nurse")
    page.get_by_role("button", name="Dispense", exact=True).click()
    expect(page.locator("#pharmacy-done")).to_contain_text(kit.number)
    no_arm(page)
    page.screenshot(path=str(IMAGES / "pharmacist-dispensing.png"), full_page=True)
    assert Dispensing.objects.get().kit == kit

    # The fridge warmed up: the two other kits of the patient's arm are quarantined...
    same_arm = sorted(
        Kit.objects.filter(status=KitStatus.AVAILABLE, content=allocation.arm).values_list(
            "number", flat=True
        )
    )
    assert len(same_arm) == 2
    page.goto("/studies/MINI/pharmacy/")
    page.locator("#excursion-new-link").click()
    page.get_by_label("Kits concerned").fill("\n".join(same_arm))
    page.get_by_label("What happened").fill("Fridge door left open overnight")
    page.get_by_label("Highest temperature").fill("14.5")
    page.get_by_label("Duration (minutes)").fill("420")
    page.get_by_role("button", name="Report and quarantine").click()
    expect(page.locator("#excursion-status")).to_have_text(
        "The kits are quarantined until the sponsor decides."
    )
    no_arm(page)
    # ... and are not assigned: the patient's next visit finds no usable kit at the site.
    page.goto("/studies/MINI/pharmacy/dispensing/")
    page.locator("#assign-subject").fill("01-001")
    page.locator("#assign-event").fill("cycle")
    page.locator("#assign-occurrence").fill("1")
    page.get_by_role("button", name="Assign", exact=True).click()
    expect(page.locator("#pharmacy-problem")).to_have_text(
        "no usable kit at site 01 for this visit: tell the sponsor's depot."
    )
    no_arm(page)
    assert set(Kit.objects.filter(number__in=same_arm).values_list("status", "subject")) == {
        (KitStatus.QUARANTINED, None)
    }

    # The accountability log of site 01 balances, on the page and printed.
    page.goto("/studies/MINI/pharmacy/accountability/?site=01")
    expect(page.locator("#accountability-balance")).to_contain_text("The accounts balance")
    row = page.locator('#per-site tr[data-site="01"]')
    expect(row.locator("td").nth(1)).to_have_text("6")  # received
    expect(row.locator("td").nth(2)).to_have_text("1")  # dispensed
    expect(row.locator("td").nth(5)).to_have_text("5")  # in stock
    no_arm(page)
    page.screenshot(path=str(IMAGES / "pharmacist-accountability.png"), full_page=True)
    href = page.locator("#accountability-pdf").get_attribute("href")
    printed = page.request.get(href)
    assert printed.ok
    assert printed.headers["content-type"] == "application/pdf"
    assert printed.body().startswith(b"%PDF")
