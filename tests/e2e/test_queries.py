"""Issue 18 in Chromium: a nurse's save opens an automatic query; a monitor raises a manual
query from the form's drawer; the nurse answers it and corrects the value in the form, which
closes the automatic query; the monitor closes the manual one. The screenshots of the guide's
query pages (docs/guide/monitor.md, data-manager.md, site-staff.md) are written here. Then the
data manager's workspace moves with the queries and a whole-study re-check runs from its page.

The study is MINI (tests/studies/fixtures/mini.yaml): its vital signs carry the soft check
"SBP must exceed DBP".
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from carnet.accounts.roles import Role
from carnet.quality.models import Query
from carnet.quality.recheck_models import RecheckRun
from carnet.quality.recheck_tasks import recheck_run
from carnet.studies.services import study_mode_change
from tests.accounts.personas import ADMIN, person, world
from tests.capture.conftest import include

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
PASSWORD = "a long test password"
DAY = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
FORM = "/studies/MINI/subjects/01-001/forms/baseline/1/vitals/"
IMAGES = Path(__file__).resolve().parents[2] / "docs" / "guide" / "img"
VIEWPORT = {"width": 1366, "height": 900}


def sign_in(page: Any, username: str) -> None:
    page.goto("/login/")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")


def type_into(page: Any, selector: str, text: str) -> None:
    page.locator(selector).fill(text)
    page.locator(selector).press("Tab")


def test_a_query_goes_from_the_nurse_to_the_monitor_and_back(
    browser: Any, live_server: Any, page: Any
) -> None:
    with time_machine.travel(DAY, tick=True):
        w = world()
        study_mode_change(actor=ADMIN, study=w.study, mode="production")
        julie = person("julie", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_a])
        person("sophie", study=w.study, role=Role.MONITOR, sites=[w.site_a, w.site_b])
        include(w, julie, on=date(2026, 3, 2))
        page.set_viewport_size(VIEWPORT)

        # The nurse saves blood pressures the study's check questions: an automatic query.
        sign_in(page, "julie")
        page.goto(FORM)
        type_into(page, "#f-weight", "72")
        type_into(page, "#f-sbp", "80")
        type_into(page, "#f-dbp", "120")
        page.get_by_role("button", name="Save the form").click()
        expect(page.locator(".messages")).to_contain_text("The form is saved.")
        expect(page.locator("#item-sbp .query-mark")).to_have_text("1 query")
        expect(page.locator("#query-drawer")).to_contain_text("SBP must exceed DBP")
        automatic = Query.objects.get()
        assert (automatic.kind, automatic.state) == ("automatic", "open")

        # The monitor finds it in the study's list, then raises a query on the weight.
        monitor_context = browser.new_context(
            locale="en-GB", base_url=live_server.url, viewport=VIEWPORT
        )
        monitor = monitor_context.new_page()
        monitor.set_default_timeout(15_000)
        sign_in(monitor, "sophie")
        expect(monitor.locator("#content")).to_contain_text("Welcome")
        monitor.goto("/studies/MINI/queries/")
        expect(monitor.locator("#queries")).to_contain_text("SBP must exceed DBP")
        monitor.screenshot(path=str(IMAGES / "queries-list.png"))
        monitor.goto(FORM)
        drawer = monitor.locator("#query-drawer")
        expect(drawer).to_contain_text("SBP must exceed DBP")
        monitor.locator("#raise-item").fill("weight")
        monitor.locator("#raise-text").fill("The source says 75 kg: please check.")
        monitor.get_by_role("button", name="Raise the query").click()
        expect(drawer).to_contain_text("The source says 75 kg: please check.")
        manual = Query.objects.get(kind="manual")
        monitor.screenshot(path=str(IMAGES / "queries-monitor-drawer.png"), full_page=True)

        # The nurse answers in the drawer and corrects the pressures in the form.
        page.goto(FORM)
        expect(page.locator("#item-weight .query-mark")).to_have_text("1 query")
        page.locator(f"#text-{manual.pk}-answer").fill("Re-weighed today: 75 kg, corrected.")
        page.locator(f"#answer-{manual.pk}").click()
        expect(page.locator(f"#query-{manual.pk}")).to_contain_text("Re-weighed today")
        expect(page.locator(f"#query-{manual.pk} .query-state")).to_have_text("Answered")
        page.screenshot(path=str(IMAGES / "queries-site-drawer.png"), full_page=True)
        type_into(page, "#f-weight", "75")
        type_into(page, "#f-sbp", "130")
        type_into(page, "#f-dbp", "80")
        page.get_by_role("button", name="Save the form").click()
        expect(page.locator(".messages")).to_contain_text("The form is saved.")
        expect(page.locator("#item-sbp .query-mark")).to_have_count(0)
        automatic.refresh_from_db()
        assert (automatic.state, automatic.resolution) == ("closed", "corrected")

        # The monitor reads the answer and closes the query.
        monitor.goto(FORM)
        monitor.locator(f"#close-{manual.pk}").click()
        expect(monitor.locator(f"#query-{manual.pk} .query-state")).to_have_text("Closed")
        manual.refresh_from_db()
        assert manual.state == "closed"
        monitor.goto("/studies/MINI/queries/?state=closed")
        expect(monitor.locator("#queries tbody tr")).to_have_count(2)
        monitor_context.close()


def sign_in_with_code(page: Any, username: str) -> None:
    """Sign in a person whose role requires a second factor: password, then the app's code."""
    page.goto("/login/")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/login/verify/")
    device = TOTPDevice.objects.get(user__username=username)
    page.get_by_label("Code").fill(f"{totp(device.bin_key):06d}")
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(lambda url: "/login/" not in url)


def test_the_workspace_follows_the_queries_and_a_recheck_runs_from_the_page(
    browser: Any, live_server: Any, page: Any
) -> None:
    """The data manager's workspace counts a query the nurse's save opens and drops it once the
    correction closes it; a whole-study re-check starts from its page, shows its progress bar
    until the worker is done, and a second run changes nothing."""
    with time_machine.travel(DAY, tick=True):
        w = world()
        study_mode_change(actor=ADMIN, study=w.study, mode="production")
        julie = person("julie", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_a])
        dora = person("dora", study=w.study, role=Role.DATA_MANAGER, sites=[None])
        TOTPDevice.objects.create(user=dora, name="App", confirmed=True)
        include(w, julie, on=date(2026, 3, 2))
        page.set_viewport_size(VIEWPORT)
        manager_context = browser.new_context(
            locale="en-GB", base_url=live_server.url, viewport=VIEWPORT
        )
        manager = manager_context.new_page()
        manager.set_default_timeout(15_000)
        sign_in_with_code(manager, "dora")
        workspace = "/studies/MINI/workspace/"
        youngest = manager.locator(f"#site-{w.site_a.code} td").first  # waiting, opened lately
        manager.goto(workspace)
        expect(youngest).to_have_text("0")

        # The nurse's save opens an automatic query: the workspace counts it.
        sign_in(page, "julie")
        page.goto(FORM)
        type_into(page, "#f-weight", "72")
        type_into(page, "#f-sbp", "80")
        type_into(page, "#f-dbp", "120")
        page.get_by_role("button", name="Save the form").click()
        expect(page.locator(".messages")).to_contain_text("The form is saved.")
        manager.goto(workspace)
        expect(youngest).to_have_text("1")
        manager.screenshot(path=str(IMAGES / "workspace.png"))

        # The correction closes it: the count goes back.
        type_into(page, "#f-sbp", "130")
        type_into(page, "#f-dbp", "80")
        page.get_by_role("button", name="Save the form").click()
        expect(page.locator(".messages")).to_contain_text("The form is saved.")
        manager.goto(workspace)
        expect(youngest).to_have_text("0")

        # A whole-study re-check from its page, run by the worker, twice.
        for run_number, reason in enumerate(("after the amendment", "once more"), start=1):
            manager.goto("/studies/MINI/checks/rechecks/")
            manager.locator("#recheck-reason").fill(reason)
            manager.locator("#recheck-start").click()
            expect(manager.locator("#recheck-progress")).to_contain_text("Waiting for the worker.")
            run = RecheckRun.objects.order_by("pk").last()
            assert run is not None
            assert RecheckRun.objects.count() == run_number
            recheck_run.call(run.pk)  # what `carnet worker` does with the queued task
            # The page asks every second until the run is done, then shows its counts.
            expect(manager.locator("#recheck-summary")).to_contain_text(
                "0 check results opened, 0 closed", timeout=20_000
            )
            expect(manager.locator("#recheck-bar")).to_have_attribute("value", "100")
        manager.screenshot(path=str(IMAGES / "recheck.png"), full_page=True)
        assert Query.objects.filter(state__in=["open", "answered"]).count() == 0
        manager_context.close()
