"""Issue 25's last "Done when" step in Chromium: the unblinded statistician reads MAINTAIN-CRC's
relative dose intensity by arm in the safety report of a cut-off (from the doses the demo's
treatment forms record, 8 mg/kg every 14 days); the blinded statistician reads it pooled, with no
arm anywhere on the page. The screenshot of docs/guide/statistician.md is written here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.e2e.test_reports import load_demo, sign_in

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

IMAGES = Path(__file__).resolve().parents[2] / "docs" / "guide" / "img"
TITLE = "Exposure: duration, cumulative dose and relative dose intensity"


def _exposure_rows(page: Any) -> list[str]:
    table = page.locator("table.report-table", has=page.locator("caption", has_text=TITLE))
    return [row.inner_text() for row in table.locator("tbody tr").all()]


def test_the_unblinded_statistician_sees_dose_intensity_by_arm(page: Any) -> None:
    load_demo()
    page.set_default_timeout(120_000)  # the report is computed when its page is asked for
    sign_in(page, "unblinded")
    page.goto("/studies/MAINTAIN-CRC/reports/")
    page.locator("#safety-DSMB-1").click()
    expect(page.locator("main")).to_contain_text("Exposure to the study treatment")
    rows = _exposure_rows(page)
    groups = {row.split("\t")[0].strip() for row in rows}
    assert {"experimental", "placebo"} <= groups, rows
    assert all("mg (administration)" in row for row in rows), rows
    section = page.locator("section.report-section", has_text="Exposure to the study treatment")
    section.screenshot(path=str(IMAGES / "statistician-exposure.png"))
    page.context.clear_cookies()  # signed out

    sign_in(page, "statistician")
    page.goto("/studies/MAINTAIN-CRC/reports/")
    page.locator("#safety-DSMB-1").click()
    expect(page.locator("main")).to_contain_text("Exposure to the study treatment")
    rows = _exposure_rows(page)
    assert rows
    assert all(row.startswith("All patients") for row in rows), rows
    text = page.locator("main").inner_text()
    assert "placebo" not in text
    assert "experimental" not in text
