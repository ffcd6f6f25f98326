"""Issue 19 in Chromium: the investigator signs a casebook with the e-signature; the data
manager locks a form and the nurse's save is refused; an inspector filters the audit trail of
one patient and exports it. The screenshots of docs/guide/investigator.md and inspector.md are
written here.

The study is MINI (tests/studies/fixtures/mini.yaml) in production, patient 01-001 at site 01.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from carnet.accounts.roles import Role
from carnet.oversight.models import DataLock, DataSignature
from carnet.studies.services import study_mode_change
from tests.accounts.personas import ADMIN, person, world
from tests.capture.conftest import include
from tests.e2e.test_queries import sign_in, sign_in_with_code, type_into

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
PASSWORD = "a long test password"
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


def test_signature_lock_and_the_inspector_s_trail(
    browser: Any, live_server: Any, page: Any, tmp_path: Path
) -> None:
    with time_machine.travel(DAY, tick=True):
        w = world()
        study_mode_change(actor=ADMIN, study=w.study, mode="production")
        julie = person("julie", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_a])
        person("irene", study=w.study, role=Role.INVESTIGATOR, sites=[w.site_a])
        dora = person("dora", study=w.study, role=Role.DATA_MANAGER, sites=[None])
        TOTPDevice.objects.create(user=dora, name="App", confirmed=True)
        person("ines", study=w.study, role=Role.INSPECTOR, sites=[None])
        include(w, julie, on=date(2026, 3, 2))
        page.set_viewport_size(VIEWPORT)

        # The nurse enters the vital signs.
        sign_in(page, "julie")
        page.goto(FORM)
        type_into(page, "#f-weight", "72")
        type_into(page, "#f-sbp", "130")
        type_into(page, "#f-dbp", "80")
        page.get_by_role("button", name="Save the form").click()
        expect(page.locator(".messages")).to_contain_text("The form is saved.")

        # The investigator opens the casebook's locks and signatures and signs it whole.
        investigator = _person_page(browser, live_server)
        sign_in(investigator, "irene")
        investigator.goto(SUBJECT + "casebook/")
        investigator.locator("#oversight-link").click()
        form = investigator.locator("#sign-form")
        form.get_by_label("What").select_option("subject")
        form.get_by_label("Password").fill(PASSWORD)
        investigator.screenshot(path=str(IMAGES / "signature-casebook.png"), full_page=True)
        form.get_by_role("button", name="Sign").click()
        expect(investigator.locator("#oversight-signatures")).to_contain_text("Signed: 01-001")
        assert DataSignature.objects.get().valid
        investigator.goto(SUBJECT + "casebook/")
        expect(investigator.locator("#casebook")).to_contain_text("Signed by Irene")
        investigator.screenshot(path=str(IMAGES / "signature-casebook-signed.png"))

        # The data manager locks the vital signs from the panel beside the form.
        manager = _person_page(browser, live_server)
        sign_in_with_code(manager, "dora")
        manager.goto(FORM)
        panel = manager.locator("#oversight-panel")
        panel.locator("#lock-form").get_by_label("Reason").fill("cleaned for the interim analysis")
        panel.get_by_role("button", name="Lock this form").click()
        expect(manager.locator("#form-marks")).to_contain_text("Locked (01-001 baseline#1 vitals)")
        assert DataLock.objects.get().in_force

        # The nurse's change is refused, with the lock's reason.
        page.goto(FORM)
        type_into(page, "#f-weight", "74")
        page.get_by_role("button", name="Save the form").click()
        expect(page.locator("body")).to_contain_text("These data are locked")
        page.screenshot(path=str(IMAGES / "lock-refused.png"), full_page=True)

        # The inspector reads the trail of patient 01-001 and exports it.
        inspector = _person_page(browser, live_server)
        sign_in(inspector, "ines")
        inspector.goto("/studies/MINI/")
        inspector.locator("#trail-link").click()
        inspector.get_by_label("Subject").fill("01-001")
        inspector.get_by_role("button", name="Filter").click()
        expect(inspector.locator("#trail")).to_contain_text("data.signed")
        expect(inspector.locator("#trail")).to_contain_text("item.changed")
        inspector.screenshot(path=str(IMAGES / "audit-trail.png"), full_page=True)
        with inspector.expect_download() as download:
            inspector.locator("#trail-csv").click()
        saved = tmp_path / "trail.csv"
        download.value.save_as(saved)
        lines = saved.read_text(encoding="utf-8").splitlines()
        assert lines[0] == "seq,when_utc,who,action,what,old,new,why"
        assert any(",item.changed,01-001 baseline#1 vitals weight,,72," in line for line in lines)
