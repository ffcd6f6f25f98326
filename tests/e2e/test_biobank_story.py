"""Issue 26's "Done when", as one continuous story in Chromium (the three other biobank browser
tests each start from samples made directly):

a nurse records patient 01-001's baseline plasma and its processing times and sees the SPREC;
the biobank technician prints its labels, aliquots it into four tubes, stores them in a box and
ships two to a partner under an MTA (the two leave the box); the patient withdraws consent for
future research (the nurse records the new consent form) and the technician sees which samples
must be destroyed: the four tubes, wherever they are. The screenshots of docs/guide/biobank.md
and docs/guide/biobank-sharing.md are written here.

MINI amended to expect samples at baseline (tests/biobank/conftest.py), in production.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from playwright.sync_api import expect

from carnet.accounts.roles import Role
from carnet.biobank.models import Sample, SamplePosition, SampleStatus
from carnet.biobank.mta import agreement_create, destination_create
from carnet.biobank.storage import box_create, freezer_create, rack_create
from carnet.studies.definition import study_file_read
from carnet.studies.services import study_load, study_mode_change, study_publish
from carnet.subjects.services import ConsentGiven, subject_include, visit_record
from tests.accounts.personas import ADMIN, person, world
from tests.biobank.conftest import amended_study
from tests.e2e.test_biobank_collection import _step
from tests.e2e.test_queries import sign_in

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
DAY = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)
IMAGES = Path(__file__).resolve().parents[2] / "docs" / "guide" / "img"
VIEWPORT = {"width": 1366, "height": 900}
PLASMA = "MINI-01-001-PLASMA-1"
TUBES = [f"{PLASMA}-A0{n}" for n in range(1, 5)]


@pytest.fixture
def long_expect() -> Iterator[None]:
    """Let `expect` wait up to a minute in this long story, then as long as before."""
    expect.set_options(timeout=60_000)
    yield
    expect.set_options(timeout=5_000)  # Playwright's default


def test_from_the_draw_to_the_withdrawal_in_one_story(
    browser: Any, live_server: Any, page: Any, tmp_path: Path, long_expect: None
) -> None:
    with time_machine.travel(DAY, tick=True):
        w = world()
        study_load(
            actor=ADMIN,
            study_file=study_file_read(amended_study(tmp_path)),
            source_name="mini.yaml",
        )
        study_publish(actor=ADMIN, study=w.study)
        study_mode_change(actor=ADMIN, study=w.study, mode="production")
        w.study.refresh_from_db()
        julie = person("julie", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_a])
        camille = person("camille", study=w.study, role=Role.BIOBANK_TECHNICIAN, sites=[w.site_a])
        subject = subject_include(
            actor=julie,
            study=w.study,
            site=w.site_a,
            included_on=date(2026, 3, 2),
            eligibility={"baseline.weight": 70, "weight": 70, "packs": 0},
            consent=ConsentGiven(
                form_version="v1",
                consented_on=date(2026, 3, 2),
                biobank=True,
                future_research=True,
                sharing=True,  # the partner is outside the centre
            ),
        )
        visit_record(
            actor=julie, subject=subject, event="baseline", visit_on=date(2026, 3, 2), occurrence=1
        )
        # The CRB's storage and its partner, set up beforehand (their pages have their tests).
        freezer = freezer_create(
            actor=camille, study=w.study, centre=w.site_a.centre, name="F-80-1", temperature=-80
        )
        rack = rack_create(actor=camille, study=w.study, freezer=freezer, name="R1")
        box = box_create(
            actor=camille, study=w.study, rack=rack, name="PLASMA-01", rows=9, columns=9
        )
        partner = destination_create(
            actor=camille, study=w.study, code="PART", name="Partner lab", kind="partner"
        )
        agreement_create(
            actor=camille,
            study=w.study,
            reference="MTA-1",
            destination=partner,
            uses=["future_research", "sharing"],
            sample_types=["plasma"],
            starts_on=date(2026, 1, 1),
            ends_on=date(2027, 12, 31),
            maximum_samples=10,
        )
        page.set_viewport_size(VIEWPORT)
        # A long story on a shared machine: each step may wait longer than the usual 15 s.
        page.set_default_timeout(60_000)

        # 1. The nurse records the baseline plasma and its processing; the SPREC shows.
        sign_in(page, "julie")
        page.goto("/studies/MINI/subjects/01-001/")
        page.locator("#samples-link").click()
        row = page.locator("#sample-baseline-1-plasma")
        row.locator("summary").click()
        row.get_by_label("Collected at (date and time)").fill("2026-03-02T09:00")
        row.locator("input[name=volume]").fill("10")
        row.locator("select[name=held]").select_option("cold")
        row.get_by_role("button", name="Record").click()
        expect(page.locator("h1")).to_have_text(f"Sample {PLASMA}")
        _step(page, "centrifugation", "2026-03-02T09:30", "2026-03-02T09:40", "4", force="1600")
        _step(
            page,
            "second_centrifugation",
            "2026-03-02T09:45",
            "2026-03-02T09:55",
            "4",
            force="1600",
        )
        _step(page, "freezing", "2026-03-02T10:20", temperature="-80")
        expect(page.locator("#sprec")).to_have_text("PL2-PED-B-C-C-B-A")
        expect(page.locator("#quality")).to_have_text("conform")
        page.screenshot(path=str(IMAGES / "biobank-sprec.png"), full_page=True)

        # 2. The technician scans it, prints its labels, aliquots it into four tubes.
        context = browser.new_context(locale="en-GB", base_url=live_server.url)
        tech = context.new_page()
        tech.set_default_timeout(60_000)
        tech.set_viewport_size(VIEWPORT)
        sign_in(tech, "camille")
        tech.goto("/studies/MINI/")
        tech.locator("#biobank-scan-link").click()
        tech.locator("#scan-code").fill(PLASMA)
        tech.locator("#scan-code").press("Enter")
        expect(tech.locator("#sample-identifier")).to_have_text(PLASMA)
        expect(tech.locator("#sample-volume")).to_have_text("10 mL")
        with tech.expect_popup() as popup:
            tech.locator("#labels-print").click()
        labels = popup.value
        labels.wait_for_load_state()
        response = tech.request.get(labels.url)
        assert response.headers["content-type"] == "application/pdf"
        assert response.body().startswith(b"%PDF")
        labels.close()
        tech.locator("#aliquot-volumes").fill("2.5 2.5 2.5 2.5")
        tech.locator("#aliquot-submit").click()
        expect(tech.locator("#sample-children li")).to_have_count(4)
        expect(tech.locator("#sample-status")).to_have_text("consumed")

        # 3. ... stores the four tubes in the box ...
        for tube in TUBES:
            tech.get_by_role("link", name=tube).click()
            tech.locator("#store-submit").click()
            expect(tech.locator("#sample-place")).to_contain_text("F-80-1 / R1 / PLASMA-01 / A")
            tech.goto(f"/studies/MINI/biobank/storage/samples/{PLASMA}/")
        tech.goto(f"/studies/MINI/biobank/storage/boxes/{box.pk}/")
        expect(tech.locator("#box-capacity")).to_have_text("4 of 81 positions used (77 free).")

        # 4. ... and ships two to the partner under the MTA: they leave the box.
        tech.goto("/studies/MINI/")
        tech.locator("#biobank-exchange-link").click()
        tech.locator("#shipment-destination").select_option("PART")
        tech.locator("#shipment-use").select_option("future_research")
        tech.locator("#shipment-agreement").select_option("MTA-1")
        tech.locator("#shipment-samples").fill("\n".join(TUBES[:2]))
        tech.get_by_role("button", name="Prepare the shipment").click()
        expect(tech.locator("#shipment-samples tbody tr")).to_have_count(2)
        tech.get_by_role("button", name="Send (consent and MTA checked again)").click()
        expect(tech.locator("#shipment-status")).to_have_attribute("data-status", "sent")
        tech.screenshot(path=str(IMAGES / "biobank-shipment.png"), full_page=True)
        assert set(
            SamplePosition.objects.filter(box=box).values_list("sample__identifier", flat=True)
        ) == set(TUBES[2:])

    # 5. Later that day the patient withdraws consent for future research: the nurse records
    # the new consent form (the biobank consent kept). Same day: sessions end when idle.
    with time_machine.travel(DAY + timedelta(minutes=20), tick=True):
        page.goto("/studies/MINI/subjects/01-001/")
        form = page.locator("#consent-form")
        form.get_by_label("Consent form version").fill("v1")
        form.get_by_label("Consent date").fill("2026-03-02")
        form.get_by_label("Biobank consent").check()
        form.get_by_label("Consent to future research").uncheck()
        form.get_by_role("button", name="Record the consent").click()
        expect(page.locator("#consents tbody tr")).to_have_count(2)

        # 6. The technician sees the samples to destroy: the four tubes, wherever they are.
        tech.goto("/studies/MINI/biobank/exchange/")
        expect(tech.locator("#withdrawals-link")).to_contain_text("(4)")
        tech.locator("#withdrawals-link").click()
        rows = tech.locator("#samples-to-dispose tbody tr")
        expect(rows).to_have_count(4)
        for tube in TUBES[:2]:
            expect(tech.locator(f'tr[data-sample="{tube}"]')).to_contain_text("in_transit")
        for tube in TUBES[2:]:
            expect(tech.locator(f'tr[data-sample="{tube}"]')).to_contain_text("stored")
        expect(tech.locator(f'tr[data-sample="{TUBES[0]}"]')).to_contain_text(
            "withdrawal of the optional consent to future research"
        )
        tech.screenshot(path=str(IMAGES / "biobank-withdrawal.png"), full_page=True)
        context.close()

    assert Sample.objects.get(identifier=PLASMA).status == SampleStatus.CONSUMED
    assert set(
        Sample.objects.filter(parent__identifier=PLASMA).values_list("status", flat=True)
    ) == {SampleStatus.IN_TRANSIT, SampleStatus.STORED}
