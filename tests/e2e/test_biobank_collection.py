"""Issue 26 in Chromium: a nurse records patient 01-001's baseline plasma from the patient's
page, then its processing times (two centrifugations at 4 °C, freezing at -80 °C), and sees the
SPREC code; a centrifugation recorded too late shows as a deviation on another tube.

The study is MINI (tests/studies/fixtures/mini.yaml) amended to expect samples at baseline
(tests/biobank/conftest.py), in production, patient 01-001 at site 01 (Montpellier).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import time_machine
from playwright.sync_api import expect

from carnet.accounts.roles import Role
from carnet.biobank.models import Sample
from carnet.studies.definition import study_file_read
from carnet.studies.services import study_load, study_mode_change, study_publish
from carnet.subjects.services import visit_record
from tests.accounts.personas import ADMIN, person, world
from tests.biobank.conftest import amended_study
from tests.capture.conftest import include
from tests.e2e.test_queries import sign_in

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
DAY = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)


def _step(
    page: Any, kind: str, start: str, end: str = "", temperature: str = "", **more: str
) -> None:
    form = page.locator("#process-form")
    form.locator("select[name=kind]").select_option(kind)
    form.get_by_label("Start (date and time)").fill(start)
    if end:
        form.get_by_label("End (date and time)").fill(end)
    form.locator("input[name=temperature]").fill(temperature)
    if "force" in more:
        form.locator("input[name=force_g]").fill(more["force"])
    form.locator("select[name=held]").select_option(more.get("held", "cold"))
    form.get_by_role("button", name="Record the step").click()


def test_a_nurse_records_a_baseline_plasma_and_its_processing_and_sees_the_sprec(
    page: Any, tmp_path: Path
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
        subject = include(w, julie, on=date(2026, 3, 2))
        visit_record(
            actor=julie, subject=subject, event="baseline", visit_on=date(2026, 3, 2), occurrence=1
        )

        sign_in(page, "julie")
        page.goto("/studies/MINI/subjects/01-001/")
        page.locator("#samples-link").click()
        row = page.locator("#sample-baseline-1-plasma")
        expect(row).to_contain_text("awaited")
        expect(page.locator("#consent-scope")).to_contain_text("no storage of samples")
        row.locator("summary").click()
        row.get_by_label("Collected at (date and time)").fill("2026-03-02T09:00")
        row.locator("input[name=volume]").fill("10")
        row.locator("select[name=held]").select_option("cold")
        row.get_by_role("button", name="Record").click()

        expect(page.locator("h1")).to_have_text("Sample MINI-01-001-PLASMA-1")
        expect(page.locator("#sprec")).to_have_text("PL1-PED-X-N-N-N-X")
        _step(page, "centrifugation", "2026-03-02T09:30", "2026-03-02T09:40", "4", force="1600")
        expect(page.locator("#sprec")).to_have_text("PL1-PED-B-C-N-X-X")
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
        expect(page.locator("#deviation-list")).to_have_count(0)

        # The casebook shows the visit's samples: the plasma collected, the tumour block missing
        # once the visit's day is over (not yet: today).
        page.goto("/studies/MINI/subjects/01-001/casebook/")
        expect(page.locator(".visit-mark").first).to_have_text("Samples 1/3")

        # A second tube spun three hours after the draw: the deviation is on its page.
        page.goto("/studies/MINI/subjects/01-001/samples/")
        assert Sample.objects.count() == 1
        from carnet.biobank.collection import sample_collect

        late = sample_collect(
            actor=julie,
            subject=subject,
            event="baseline",
            code="plasma",
            collected_at=datetime(2026, 3, 2, 8, 0, tzinfo=UTC),
        )
        page.goto(f"/studies/MINI/samples/{late.identifier}/")
        _step(
            page,
            "centrifugation",
            "2026-03-02T12:00",
            "2026-03-02T12:10",
            "4",
            force="1600",
            held="room",
        )
        expect(page.locator("#deviation-list")).to_contain_text(
            "centrifuged 180 minutes after collection (protocol: within 120)"
        )
        expect(page.locator("#sprec")).to_contain_text("PL1-PED-C-C-")
