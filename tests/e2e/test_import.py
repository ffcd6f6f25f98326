"""Issue 21 in Chromium: a data manager sends a French Excel export to the import page as a dry
run, follows it while the worker checks it, reads the located problem, fixes the file and
imports it. The screenshot of the guide's import section (docs/guide/data-manager.md) is
written here."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from carnet.accounts.roles import Role
from carnet.capture.bulk.run_models import ImportRun
from carnet.capture.bulk.tasks import import_run_task
from carnet.capture.models import ItemValue
from carnet.studies.services import study_mode_change
from tests.accounts.personas import ADMIN, person, world
from tests.capture.conftest import include
from tests.e2e.test_queries import sign_in_with_code

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
DAY = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
IMAGES = Path(__file__).resolve().parents[2] / "docs" / "guide" / "img"
VIEWPORT = {"width": 1366, "height": 900}


def send(page: Any, text: str, *, dry_run: bool) -> ImportRun:
    """Send vitals.csv as French Excel writes it (Windows-1252, semicolons); return the run."""
    page.goto("/studies/MINI/imports/")
    page.locator("#import-files").set_input_files(
        {"name": "vitals.csv", "mimeType": "text/csv", "buffer": text.encode("cp1252")}
    )
    page.locator("#import-reason").fill("Export du laboratoire")
    page.locator("input[name=dry_run]").set_checked(dry_run)
    page.locator("#import-start").click()
    expect(page.locator("#import-progress")).to_contain_text("Waiting for the worker.")
    run = ImportRun.objects.order_by("pk").last()
    assert run is not None
    return run


def test_a_data_manager_dry_runs_an_excel_export_fixes_it_and_imports_it(
    live_server: Any, page: Any
) -> None:
    with time_machine.travel(DAY, tick=True):
        w = world()
        study_mode_change(actor=ADMIN, study=w.study, mode="production")
        julie = person("julie", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_a])
        dora = person("dora", study=w.study, role=Role.DATA_MANAGER, sites=[None])
        TOTPDevice.objects.create(user=dora, name="App", confirmed=True)
        subject = include(w, julie, on=date(2026, 3, 2))
        page.set_viewport_size(VIEWPORT)
        page.set_default_timeout(15_000)
        sign_in_with_code(page, "dora")

        header = "subject;event;weight;sbp;dbp\n"
        run = send(page, f"{header}{subject.identifier};baseline;12,5;130;80\n", dry_run=True)
        import_run_task.call(run.pk)  # what `carnet worker` does with the queued task
        # The page asks every second until the run ends, then lists the problem, located.
        problems = page.locator("#import-problems")
        expect(problems).to_contain_text("vitals.csv:2", timeout=20_000)
        expect(problems).to_contain_text("12.5 is below the minimum 20 kg.")
        page.screenshot(path=str(IMAGES / "import.png"), full_page=True)
        assert not ItemValue.objects.exists()

        run = send(page, f"{header}{subject.identifier};baseline;72,5;130;80\n", dry_run=False)
        import_run_task.call(run.pk)
        expect(page.locator("#import-outcome")).to_contain_text(
            "1 forms read: 3 values changed in 1 forms", timeout=20_000
        )
        assert ItemValue.objects.get(item="weight").text == "72.5"
