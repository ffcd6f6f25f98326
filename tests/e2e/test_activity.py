"""Issue 23 in Chromium: the sponsor opens the centre's activity report from the home page and
reads the inclusions per study and site per year; counting one year keeps that year only; the
CSV holds the same counts. The screenshot of docs/guide/activity.md is written here.

MINI in production, planted by tests/reports/test_activity.py: site 01 three inclusions in 2025
and two in 2026 (one randomised), site 02 one in 2026.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import time_machine
from playwright.sync_api import expect

from carnet.accounts.roles import Role
from tests.accounts.personas import person
from tests.e2e.test_queries import sign_in
from tests.reports.test_activity import DAY, plant

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
IMAGES = Path(__file__).resolve().parents[2] / "docs" / "guide" / "img"


def test_the_activity_report_counts_inclusions_per_study_and_site_per_year(
    live_server: Any, page: Any
) -> None:
    with time_machine.travel(DAY, tick=True):
        w = plant()
        person("claire", study=w.study, role=Role.SPONSOR)
        page.set_viewport_size({"width": 1366, "height": 900})
        sign_in(page, "claire")
        page.locator("#activity-link").click()
        expect(page.locator("h1")).to_have_text("The centre's activity report")
        rows = page.locator("#activity-rows tbody tr")
        expect(rows).to_have_count(3)
        cell = '#activity-rows tr[data-study="MINI"][data-site="{}"][data-year="{}"] td.included'
        expect(page.locator(cell.format("01", 2025))).to_have_text("3")
        expect(page.locator(cell.format("01", 2026))).to_have_text("2")
        expect(page.locator(cell.format("02", 2026))).to_have_text("1")
        randomised = '#activity-rows tr[data-site="01"][data-year="2026"] td.randomised'
        expect(page.locator(randomised)).to_have_text("1")
        expect(page.locator('#activity-years tr[data-year="2026"] td.included')).to_have_text("3")
        expect(page.locator('#activity-quality tr[data-site="01"] td.completeness')).to_have_text(
            "1.7%"
        )
        page.screenshot(path=str(IMAGES / "activity-report.png"), full_page=True)

        # One year: only its rows; the CSV link carries the year.
        page.get_by_label("Year", exact=True).select_option("2025")
        page.get_by_role("button", name="Count").click()
        expect(rows).to_have_count(1)
        expect(page.locator(cell.format("01", 2025))).to_have_text("3")
        with page.expect_download() as download:
            page.locator("#activity-csv").click()
        text = Path(download.value.path()).read_text("utf-8")
        assert "inclusions,MINI,01,Institut du Cancer de Montpellier,2025,,,3,0" in text
        assert "2026" not in text.split("quality")[0].split("\n", 1)[1]
