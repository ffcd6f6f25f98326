"""Issue 26 in Chromium: the biobank technician ships two aliquots of a baseline plasma sample
to a partner under an MTA; the patient then withdraws consent for future research and the
technician sees which samples must be destroyed (the parent and its four aliquots, wherever
they are), and records their destruction.

Samples are created directly (collection and aliquoting are other parts' pages)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from playwright.sync_api import expect

from carnet.biobank.models import Sample, SampleStatus
from carnet.subjects.services import consent_record
from tests.biobank.exchange.conftest import make_bank
from tests.e2e.test_queries import sign_in

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_the_technician_ships_two_aliquots_then_sees_what_a_withdrawal_concerns(
    browser: Any, live_server: Any, page: Any
) -> None:
    bank = make_bank()
    subject = bank.include()
    plasma = bank.sample(subject, identifier="PL-001")
    for n in range(1, 5):
        bank.sample(subject, identifier=f"PL-001-0{n}", parent=plasma)

    sign_in(page, "tina")
    page.goto("/studies/MINI/")
    page.locator("#biobank-exchange-link").click()
    page.locator("#shipment-destination").select_option("PART")
    page.locator("#shipment-use").select_option("future_research")
    page.locator("#shipment-agreement").select_option("MTA-1")
    page.locator("#shipment-samples").fill("PL-001-01\nPL-001-02")
    page.get_by_role("button", name="Prepare the shipment").click()
    expect(page.locator("#shipment-samples tbody tr")).to_have_count(2)
    page.get_by_role("button", name="Send (consent and MTA checked again)").click()
    expect(page.locator("#shipment-status")).to_have_attribute("data-status", "sent")
    assert set(
        Sample.objects.filter(status=SampleStatus.IN_TRANSIT).values_list("identifier", flat=True)
    ) == {"PL-001-01", "PL-001-02"}

    # The patient withdraws consent for future research (recorded by the site).
    consent_record(
        actor=bank.nurse,
        subject=subject,
        form_version="v1",
        consented_on=date(2026, 2, 1),
        biobank=True,
        future_research=False,
    )
    page.goto("/studies/MINI/biobank/exchange/")
    expect(page.locator("#withdrawals-link")).to_contain_text("(5)")
    page.locator("#withdrawals-link").click()
    rows = page.locator("#samples-to-dispose tbody tr")
    expect(rows).to_have_count(5)
    expect(page.locator('tr[data-sample="PL-001-02"]')).to_contain_text("in_transit")
    expect(page.locator('tr[data-sample="PL-001"]')).to_contain_text(
        "withdrawal of the optional consent to future research"
    )
    for identifier in ("PL-001-03", "PL-001-04"):
        page.get_by_label(identifier, exact=True).check()
    page.locator("#disposition-action").select_option("destroyed")
    page.locator("#disposition-reason").fill("future research withdrawn on 2026-02-01")
    page.get_by_role("button", name="Record").click()
    expect(page.locator("#withdrawal-done")).to_contain_text("2 samples recorded.")
    expect(rows).to_have_count(3)
    assert Sample.objects.get(identifier="PL-001-03").status == SampleStatus.DESTROYED
