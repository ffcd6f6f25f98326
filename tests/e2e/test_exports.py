"""Issue 20 in Chromium: MAINTAIN-CRC's unblinded statistician names a cut-off on the exports
page and exports it as SAS XPT and as Parquet, the worker making each zip while the page shows
its progress; DuckDB reads the Parquet and finds every randomised patient with the arm. The
blinded statistician's export has no arm. The guide's picture of the page
(docs/guide/statistician.md) is written here.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
import time_machine
from django.core.management import call_command
from django.db import connections, transaction
from playwright.sync_api import expect

from carnet.capture.services import form_save
from carnet.demo import demo_load
from carnet.demo.pharmacy import stock_load
from carnet.interop.models import ExportRun
from carnet.interop.tasks import export_run
from carnet.randomization.services import subject_randomise
from carnet.subjects.models import Subject
from tests.e2e.test_guide import (
    IMAGES,
    PASSWORD,
    SYSTEM,
    TODAY,
    VIEWPORT,
    _phase3_world,
    _second_factor,
    _staff,
    _study,
    sign_in,
)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _django_db_marker() -> None:
    """The world belongs to the module (as in test_guide.py), not to each test."""


@pytest.fixture(scope="module")
def served(django_db_setup: Any, django_db_blocker: Any) -> Iterator[tuple[str, Any]]:
    """MAINTAIN-CRC with the demo accounts and one randomised patient, served."""
    from pytest_django.live_server_helper import LiveServer

    with django_db_blocker.unblock(), time_machine.travel(TODAY, tick=True):
        try:
            with transaction.atomic():
                demo_load(actor=SYSTEM, password=PASSWORD)
                study = _study("maintain-crc.yaml", test_patient=False)
                _phase3_world(study)
                # Kit mode: the randomisation below assigns a kit of the site's stock.
                stock_load(actor=SYSTEM, study=study)
                for subject in Subject.objects.filter(study=study):
                    staff = _staff(subject.site.code)
                    # The stratification factor the randomisation reads from the casebook.
                    form_save(
                        actor=staff,
                        subject=subject,
                        event="baseline",
                        form="randomisation",
                        base_version=None,
                        values={"rando_date": "2026-10-01", "strat_ecog": 0},
                    )
                    subject_randomise(actor=staff, subject=subject)
                _second_factor("unblinded")
            server = LiveServer("localhost")
            server._live_server_modified_settings.enable()
            try:
                yield server.url, django_db_blocker
            finally:
                server._live_server_modified_settings.disable()
                server.stop()
        finally:
            for alias in connections:
                call_command("flush", verbosity=0, interactive=False, database=alias)


def export_from_page(page: Any, blocker: Any, file_format: str, *, unblinded: bool) -> bytes:
    """Ask for an export on the page, run the worker's task, wait for the link, download."""
    page.locator("#export-cutoff").select_option("DSMB-1")
    page.locator("#export-format").select_option(file_format)
    if unblinded:
        page.locator("#export-unblinded").check()
    page.locator("#export-start").click()
    expect(page.locator(".messages")).to_contain_text("Export queued")
    with blocker.unblock():
        run = ExportRun.objects.order_by("pk").last()
        assert run is not None
        expect(page.locator(f"#export-{run.pk}")).to_contain_text("Waiting for the worker.")
        export_run.call(run.pk)  # what `carnet worker` does with the queued task
    line = page.locator(f"#export-{run.pk}")
    expect(line).to_contain_text("Done.", timeout=20_000)
    with page.expect_download() as download:
        line.locator(".export-download").click()
    return Path(download.value.path()).read_bytes()


def arms_in(archive: bytes, folder: Path) -> list[tuple[Any, ...]]:
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        opened.extract("subjects.parquet", folder)
    connection = duckdb.connect()
    columns = [
        row[0]
        for row in connection.execute(
            "describe select * from read_parquet(?)", [str(folder / "subjects.parquet")]
        ).fetchall()
    ]
    chosen = "subject, arm" if "arm" in columns else "subject"
    return connection.execute(
        f"select {chosen} from read_parquet(?) where randomised_on is not null order by subject",  # noqa: S608
        [str(folder / "subjects.parquet")],
    ).fetchall()


def test_the_statisticians_export_maintain_crc_at_a_cutoff_from_the_page(
    browser: Any, served: tuple[str, Any], tmp_path: Path
) -> None:
    url, blocker = served
    context = browser.new_context(locale="en-GB", base_url=url, viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto("/login/")
    sign_in(page, "unblinded", code=True)
    page.goto("/studies/MAINTAIN-CRC/exports/")
    page.locator("#cutoff-name").fill("DSMB-1")
    page.locator("#cutoff-reason").fill("First DSMB meeting")
    page.get_by_role("button", name="Name the cut-off").click()
    expect(page.locator("#cutoffs")).to_contain_text("DSMB-1")

    xpt = export_from_page(page, blocker, "xpt", unblinded=True)
    assert "subjects.xpt" in zipfile.ZipFile(io.BytesIO(xpt)).namelist()
    parquet = export_from_page(page, blocker, "parquet", unblinded=True)
    with blocker.unblock():
        randomised = sorted(
            (s.identifier, s.allocation.arm)
            for s in Subject.objects.filter(study__identifier="MAINTAIN-CRC").exclude(
                randomised_on=None
            )
        )
    assert randomised
    assert arms_in(parquet, tmp_path / "unblinded") == randomised
    IMAGES.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(IMAGES / "exports.png"), full_page=True, animations="disabled")
    context.close()

    blinded_context = browser.new_context(locale="en-GB", base_url=url, viewport=VIEWPORT)
    blinded = blinded_context.new_page()
    blinded.set_default_timeout(15_000)
    blinded.goto("/login/")
    sign_in(blinded, "statistician")
    blinded.goto("/studies/MAINTAIN-CRC/exports/")
    expect(blinded.locator("#export-unblinded")).to_have_count(0)
    archive = export_from_page(blinded, blocker, "parquet", unblinded=False)
    assert arms_in(archive, tmp_path / "blinded") == [(s,) for s, _arm in randomised]
    blinded_context.close()
