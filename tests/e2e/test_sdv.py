"""Issue 19 in Chromium: the monitor opens a monitoring visit of site 01, verifies a whole visit
of patient 01-001 in one action, a nurse then corrects one value and the SDV mark of that item
resets on the form and on the SDV page; the monitor records the visit's findings and closes it.
The screenshots of docs/guide/monitor.md are written here.

The study is MINI (tests/studies/fixtures/mini.yaml) in production, patient 01-001 at site 01.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import time_machine
from playwright.sync_api import expect

from carnet.accounts.roles import Role
from carnet.monitoring.models import MonitoringVisit, SourceVerification
from carnet.studies.services import study_mode_change
from tests.accounts.personas import ADMIN, person, world
from tests.capture.conftest import include
from tests.e2e.test_queries import sign_in, type_into

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
DAY = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
SUBJECT = "/studies/MINI/subjects/01-001/"
FORM = SUBJECT + "forms/baseline/1/vitals/"
IMAGES = Path(__file__).resolve().parents[2] / "docs" / "guide" / "img"
VIEWPORT = {"width": 1366, "height": 900}


def _person_page(browser: Any, live_server: Any) -> Any:
    context = browser.new_context(locale="en-GB", base_url=live_server.url, viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(15_000)
    return page


def test_the_monitor_verifies_a_visit_and_a_nurse_s_change_resets_one_item(
    browser: Any, live_server: Any, page: Any
) -> None:
    with time_machine.travel(DAY, tick=True):
        w = world()
        study_mode_change(actor=ADMIN, study=w.study, mode="production")
        julie = person("julie", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_a])
        person("sophie", study=w.study, role=Role.MONITOR, sites=[w.site_a])
        include(w, julie, on=date(2026, 3, 2))
        page.set_viewport_size(VIEWPORT)

        # The nurse enters the vital signs and marks the form complete.
        sign_in(page, "julie")
        page.goto(FORM)
        type_into(page, "#f-weight", "72")
        type_into(page, "#f-sbp", "130")
        type_into(page, "#f-dbp", "80")
        page.get_by_label("The form is complete").check()
        page.get_by_role("button", name="Save the form").click()
        expect(page.locator(".messages")).to_contain_text("The form is saved.")

        # The monitor opens a monitoring visit of site 01 from the study's monitoring page.
        monitor = _person_page(browser, live_server)
        sign_in(monitor, "sophie")
        monitor.goto("/studies/MINI/")
        monitor.locator("#monitoring-link").click()
        monitor.locator("#visit-new-form").get_by_label("Subjects to review").fill("01-001")
        monitor.screenshot(path=str(IMAGES / "monitoring-study.png"), full_page=True)
        monitor.get_by_role("button", name="Open a monitoring visit").click()
        expect(monitor.locator("#visit-subjects-reviewed")).to_have_text("01-001")

        # On the patient's SDV page, one action verifies the whole baseline visit.
        monitor.goto(SUBJECT + "sdv/")
        expect(monitor.locator("#sdv-visit")).to_contain_text("joins your monitoring visit")
        monitor.get_by_role("button", name="Verify the whole visit baseline#1").click()
        expect(monitor.locator('tr[data-item="weight"]')).to_contain_text("Verified by Sophie")
        expect(monitor.locator("tr.sdv-verified")).to_have_count(3)
        monitor.screenshot(path=str(IMAGES / "sdv-visit-verified.png"), full_page=True)
        assert SourceVerification.objects.filter(visit__isnull=False, reset_at=None).count() == 3

        # The form shows the verification beside each item.
        monitor.goto(FORM)
        expect(monitor.locator("#item-weight")).to_contain_text("Verified (SDV) by Sophie")

        # The nurse corrects the weight, with a reason: its SDV resets, the others stay.
        page.goto(FORM)
        type_into(page, "#f-weight", "74")
        page.get_by_label("Reason for the change").fill("transcription error")
        page.get_by_role("button", name="Save the form").click()
        expect(page.locator(".messages")).to_contain_text("The form is saved.")
        expect(page.locator("#item-weight")).to_contain_text("SDV reset")
        expect(page.locator("#item-sbp")).to_contain_text("Verified (SDV) by Sophie")

        monitor.goto(FORM)
        expect(monitor.locator("#item-weight")).to_contain_text("SDV reset")
        expect(monitor.locator("#form-marks")).to_contain_text("SDV 2/3 · 1 reset")
        monitor.screenshot(path=str(IMAGES / "sdv-reset.png"), full_page=True)
        monitor.goto(SUBJECT + "sdv/")
        expect(monitor.locator('tr[data-item="weight"]')).to_contain_text(
            "SDV reset by a change (Julie: transcription error)"
        )

        # The monitor records the findings and closes the visit: its report is final.
        monitor.locator("#sdv-visit a").click()
        monitor.get_by_label("Findings", exact=True).fill("Weight of 01-001 corrected on site.")
        monitor.get_by_label("Follow-up actions", exact=True).fill("None.")
        monitor.get_by_role("button", name="Save and close the visit").click()
        expect(monitor.locator("#visit-sdv")).to_contain_text("3 item values verified")
        expect(monitor.locator("#visit-sdv")).to_contain_text("1 reset since by a change")
        monitor.screenshot(path=str(IMAGES / "monitoring-visit-report.png"), full_page=True)
        assert not MonitoringVisit.objects.get().is_open
