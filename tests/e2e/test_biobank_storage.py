"""Issue 26 in Chromium, storage part: the biobank technician scans a baseline plasma sample's
label, prints its labels, aliquots it into four tubes, stores them in a 9 × 9 box and sees them
on the box map. The screenshots of docs/guide/biobank-technician.md are written here.

The study is MINI (tests/studies/fixtures/mini.yaml), patient 01-001 at site 01 (ICM); the
plasma sample (4 mL) is created as collected (collection is another part of the biobank).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import time_machine
from playwright.sync_api import expect

from carnet.accounts.roles import Role
from carnet.biobank.models import Sample, SamplePosition, SampleStatus
from carnet.biobank.storage import box_create, freezer_create, rack_create
from carnet.core.clock import utc_now
from carnet.subjects.services import ConsentGiven, subject_include
from tests.accounts.personas import person, world
from tests.e2e.test_queries import sign_in

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
DAY = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
IMAGES = Path(__file__).resolve().parents[2] / "docs" / "guide" / "img"
VIEWPORT = {"width": 1366, "height": 900}
SAMPLE = "MINI-01-001-PL01"


def test_the_technician_prints_labels_aliquots_and_stores_four_tubes(
    browser: Any, live_server: Any, page: Any
) -> None:
    with time_machine.travel(DAY, tick=True):
        w = world()
        nurse = person("julie", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_a])
        camille = person("camille", study=w.study, role=Role.BIOBANK_TECHNICIAN, sites=[w.site_a])
        subject = subject_include(
            actor=nurse,
            study=w.study,
            site=w.site_a,
            included_on=date(2026, 3, 2),
            eligibility={"baseline.weight": 70, "weight": 70, "packs": 0},
            consent=ConsentGiven(form_version="v1", consented_on=date(2026, 3, 2)),
        )
        now = utc_now()
        Sample.objects.create(
            study=w.study,
            environment=subject.environment,
            subject=subject,
            site=w.site_a,
            identifier=SAMPLE,
            sample_type="plasma",
            container="cryotube_5ml",
            volume=Decimal(4),
            unit="mL",
            collected_at=now,
            collected_by="julie",
            created_at=now,
            created_by="julie",
            updated_at=now,
        )
        freezer = freezer_create(
            actor=camille, study=w.study, centre=w.site_a.centre, name="F-80-1", temperature=-80
        )
        rack = rack_create(actor=camille, study=w.study, freezer=freezer, name="R1")
        box = box_create(
            actor=camille, study=w.study, rack=rack, name="PLASMA-01", rows=9, columns=9
        )
        page.set_viewport_size(VIEWPORT)

        # From the study page, the technician scans the tube's label (a scanner types the code).
        sign_in(page, "camille")
        page.goto("/studies/MINI/")
        page.locator("#biobank-scan-link").click()
        page.locator("#scan-code").fill(SAMPLE)
        page.locator("#scan-code").press("Enter")
        expect(page.locator("#sample-identifier")).to_have_text(SAMPLE)
        expect(page.locator("#sample-volume")).to_have_text("4 mL")

        # Its labels: an A4 sheet of cryo labels, as a PDF.
        with page.expect_popup() as popup:
            page.locator("#labels-print").click()
        labels = popup.value
        labels.wait_for_load_state()
        assert labels.url.endswith(f"/samples/{SAMPLE}/labels.pdf?layout=sheet&copies=1")
        response = page.request.get(labels.url)
        assert response.headers["content-type"] == "application/pdf"
        assert response.body().startswith(b"%PDF")
        labels.close()

        # Four tubes of 1 mL: the parent is used up.
        page.locator("#aliquot-volumes").fill("1 1 1 1")
        page.screenshot(path=str(IMAGES / "biobank-sample.png"), full_page=True)
        page.locator("#aliquot-submit").click()
        children = page.locator("#sample-children li")
        expect(children).to_have_count(4)
        expect(page.locator("#sample-status")).to_have_text("consumed")

        # Each tube put away in the box, at the first free position.
        for number in range(1, 5):
            page.get_by_role("link", name=f"{SAMPLE}-A0{number}").click()
            page.locator("#store-submit").click()
            expect(page.locator("#sample-place")).to_contain_text("F-80-1 / R1 / PLASMA-01 / A")
            page.goto(f"/studies/MINI/biobank/storage/samples/{SAMPLE}/")

        # The box map shows them, and the free positions.
        page.goto(f"/studies/MINI/biobank/storage/boxes/{box.pk}/")
        for number in range(1, 5):
            cell = page.locator(f'#box-map td[data-position="A{number}"]')
            expect(cell).to_have_text(f"{SAMPLE}-A0{number}")
        expect(page.locator('#box-map td[data-position="A5"]')).to_have_class("empty")
        expect(page.locator("#box-capacity")).to_have_text("4 of 81 positions used (77 free).")
        page.screenshot(path=str(IMAGES / "biobank-box-map.png"), full_page=True)

    assert SamplePosition.objects.filter(box=box).count() == 4
    assert Sample.objects.get(identifier=SAMPLE).status == SampleStatus.CONSUMED
