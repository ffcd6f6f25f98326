"""Issue 19 in Chromium: the data manager runs the database lock checklist of ACC-209, waiving
the items still open with a reason, and signs first; the statistician, the coordinating
investigator and the sponsor sign in turn; the last signature locks the database, with its
hashed snapshot, and a nurse's save is refused. The screenshots of docs/guide/data-manager.md's
database lock section are written here.

ACC-209 is the demo's phase II (examples/simon-phase2.yaml) with the demo accounts, two patients
included through the services and a first cycle entered at site 01.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from carnet.accounts.models import User
from carnet.audit.services import SystemActor
from carnet.core.clock import utc_now
from carnet.core.hashing import sha256_of_file
from carnet.database_lock.models import DatabaseLock, LockStatus
from carnet.demo import demo_load
from tests.e2e.test_guide import _cycle, _phase2_patient, _study
from tests.web.helpers import current_code

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
PASSWORD = "the demo password 2026"  # the guide world's (test_guide's helpers sign in with it)
TODAY = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
IMAGES = Path(__file__).resolve().parents[2] / "docs" / "guide" / "img"
VIEWPORT = {"width": 1366, "height": 900}
LOCK = "/studies/ACC-209/database-lock/"


def _world() -> None:
    """ACC-209 in production, its demo accounts, two patients and a first cycle at site 01."""
    system = SystemActor(label="database lock world")
    with transaction.atomic():
        demo_load(actor=system, password=PASSWORD)
        study = _study("simon-phase2.yaml", test_patient=False)
        first = _phase2_patient(study, "01", included_on=date(2026, 9, 28), number="AC101")
        _cycle(first, 1, date(2026, 9, 28), returned=30)  # poor compliance: a check fires
        _phase2_patient(study, "02", included_on=date(2026, 10, 5), number="AC201")
        TOTPDevice.objects.create(
            user=User.objects.get(username="datamanager"), name="App", confirmed=True
        )


def _code(username: str, seconds: int = 0) -> str:
    with time_machine.travel(utc_now() + timedelta(seconds=seconds), tick=False):
        return current_code(TOTPDevice.objects.get(user__username=username))


def _sign_in(page: Any, username: str, *, code: bool = False) -> None:
    page.goto("/login/")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    if code:
        page.wait_for_url("**/login/verify/")
        page.get_by_label("Code").fill(_code(username))
        page.get_by_role("button", name="Continue").click()
    page.wait_for_url(lambda url: "/login/" not in url)


def _person_page(browser: Any, live_server: Any, username: str) -> Any:
    context = browser.new_context(locale="en-GB", base_url=live_server.url, viewport=VIEWPORT)
    page = context.new_page()
    page.set_default_timeout(15_000)
    _sign_in(page, username)
    return page


def _sign(page: Any) -> None:
    form = page.locator("#lock-sign")
    form.get_by_label("Your password (e-signature)").fill(PASSWORD)
    form.get_by_role("button", name="Sign the database lock").click()
    expect(page.locator(".messages")).to_contain_text("Your signature is recorded.")


def test_the_data_manager_runs_the_checklist_of_acc_209_to_a_signed_lock(
    browser: Any, live_server: Any, page: Any
) -> None:
    with time_machine.travel(TODAY, tick=True):
        _world()
        page.set_viewport_size(VIEWPORT)
        _sign_in(page, "datamanager", code=True)
        page.goto("/studies/ACC-209/")
        page.locator("#database-lock-link").click()
        page.wait_for_url(f"**{LOCK}")
        checklist = page.locator("#checklist")
        expect(checklist.locator("#item-casebooks_unsigned")).to_contain_text("open")

        # Each item still open is waived with a reason (the casebooks are signed on paper,
        # the compliance query is answered in the clinical study report…).
        waived = 0
        while page.locator(".waive-form").count():
            form = page.locator(".waive-form").first
            form.get_by_label("Reason for waiving").fill("Reviewed at the data review meeting")
            form.get_by_role("button", name="Waive").click()
            expect(page.locator(".messages")).to_contain_text("The item is waived.")
            waived += 1
        assert waived >= 1
        expect(checklist).not_to_contain_text("open")
        page.locator("#checklist-title").click()  # no field focused in the picture
        IMAGES.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(IMAGES / "database-lock-checklist.png"), full_page=True)

        # The data manager signs first (password and a fresh authenticator code).
        form = page.locator("#lock-sign")
        form.get_by_label("Your password (e-signature)").fill(PASSWORD)
        form.get_by_label("Authenticator code").fill(_code("datamanager", 30))
        with time_machine.travel(utc_now() + timedelta(seconds=30), tick=True):
            form.get_by_role("button", name="Sign the database lock").click()
            expect(page.locator(".messages")).to_contain_text("Your signature is recorded.")

            # Then the statistician, the coordinating investigator and the sponsor, in turn.
            for username in ("statistician", "investigator", "sponsor"):
                signer = _person_page(browser, live_server, username)
                signer.goto(LOCK)
                _sign(signer)
                signer.context.close()

            page.goto(LOCK)
            expect(page.locator("#locked")).to_contain_text("The database is locked (DBLOCK-1")
            page.screenshot(path=str(IMAGES / "database-lock-locked.png"), full_page=True)
            lock = DatabaseLock.objects.get()
            assert lock.status == LockStatus.LOCKED
            expect(page.locator("#archive-sha256")).to_have_text(lock.archive_sha256)

            # Locked: the data manager unblinds the study for the final analysis (signed), and
            # from then on may download the archived snapshot, whose hash matches the page's.
            expect(page.locator("#archive-download")).to_have_count(0)
            form = page.locator("#lock-unblind")
            form.get_by_label("Reason").fill("Final analysis")
            form.get_by_label("Your password (e-signature)").fill(PASSWORD)
            form.get_by_label("Authenticator code").fill(_code("datamanager", 60))
            with time_machine.travel(utc_now() + timedelta(seconds=60), tick=True):
                form.get_by_role("button", name="Sign and unblind the study").click()
                expect(page.locator(".messages")).to_contain_text("The study is unblinded")
            expect(page.locator("#unblinded")).to_contain_text("after DBLOCK-1")
            with page.expect_download() as download:
                page.locator("#archive-download").click()
            saved = download.value.path()
            assert sha256_of_file(Path(saved)) == lock.archive_sha256

            # A nurse's change is refused from now on.
            nurse = _person_page(browser, live_server, "dataentry")
            nurse.goto("/studies/ACC-209/subjects/01-001/forms/cycle/1/treatment/")
            nurse.locator("#f-tablets_returned").fill("31")
            nurse.get_by_label("Reason for the change (the form is complete)").fill("recount")
            nurse.get_by_role("button", name="Save the form").click()
            expect(nurse.locator("body")).to_contain_text("The database of ACC-209 is locked")
            nurse.context.close()
