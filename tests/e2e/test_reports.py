"""Issue 23 in Chromium: MAINTAIN-CRC's unblinded statistician opens the survival report of a
cut-off from the study page and reads PFS by arm with its at-risk table, the stratified log-rank
test and the hazard ratio; the blinded statistician's report pools every patient."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from carnet.accounts.models import User
from carnet.audit.services import SystemActor
from carnet.demo import demo_load, demo_patients_load, demo_studies_load
from carnet.interop.services import cutoff_create
from carnet.studies.models import Study
from tests.web.helpers import current_code

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

TODAY = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
PASSWORD = "a long demo password"


def load_demo() -> None:
    system = SystemActor(label="e2e")
    with time_machine.travel(TODAY - timedelta(hours=1), tick=True):
        demo_load(actor=system, password=PASSWORD)
        demo_studies_load(actor=system)
    with time_machine.travel(TODAY, tick=True):
        demo_patients_load(actor=system, phase3=24, phase2=4)
        cutoff_create(
            actor=User.objects.get(username="unblinded"),
            study=Study.objects.get(identifier="MAINTAIN-CRC"),
            name="DSMB-1",
            reason="First DSMB meeting",
            cut_on=date(2026, 11, 21),
        )
    for username in ("unblinded", "statistician"):
        user = User.objects.get(username=username)
        if not TOTPDevice.objects.filter(user=user).exists():
            TOTPDevice.objects.create(user=user, name="App", confirmed=True)


def sign_in(page: Any, username: str) -> None:
    page.goto("/login/")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "verify" in url or "/login/" not in url)
    if "verify" in page.url:
        page.get_by_label("Code").fill(
            current_code(TOTPDevice.objects.get(user__username=username))
        )
        page.get_by_role("button", name="Continue").click()
    page.wait_for_url(lambda url: "/login/" not in url)


def test_the_statisticians_read_the_survival_report_by_arm_and_pooled(page: Any) -> None:
    load_demo()
    # A report is computed when its page is asked for: on a busy 2-core machine that can take
    # longer than the fixture's 15 seconds.
    page.set_default_timeout(120_000)
    sign_in(page, "unblinded")
    page.goto("/studies/MAINTAIN-CRC/")
    page.locator("#reports-link").click()
    expect(page.locator("#statistics-unblinded")).to_be_visible()
    page.locator("#survival-DSMB-1").click()
    expect(page.locator("#report-source")).to_contain_text(
        "MAINTAIN-CRC, cut-off DSMB-1 (audit event #"
    )
    report = page.locator("#report-survival")
    expect(report).to_contain_text("Progression-free survival")
    expect(report).to_contain_text("Log-rank test (stratified by strat_ecog)")
    expect(report).to_contain_text("Hazard ratio experimental vs placebo (Cox, stratified by")
    figure = page.locator("#figure-pfs_km")
    expect(figure).to_have_attribute("data-curves", "2")
    expect(figure).to_have_attribute("data-at-risk-rows", "2")
    assert figure.locator("img").evaluate("image => image.naturalWidth") > 0
    expect(report).to_contain_text("Reference arm: placebo.")
    page.context.clear_cookies()  # signed out

    sign_in(page, "statistician")
    page.goto("/studies/MAINTAIN-CRC/reports/")
    expect(page.locator("#statistics-blinded")).to_be_visible()
    expect(page.locator("#dsmb-closed-DSMB-1")).to_have_count(0)
    page.locator("#survival-DSMB-1").click()
    report = page.locator("#report-survival")
    expect(report).to_contain_text("All patients")
    expect(page.locator("#figure-pfs_km")).to_have_attribute("data-curves", "1")
    text = page.locator("main").inner_text() if page.locator("main").count() else page.content()
    assert "placebo" not in text
    assert "experimental" not in text
    assert "Hazard ratio" not in text


def test_the_dsmb_member_downloads_the_closed_session_and_acc209_shows_simon(page: Any) -> None:
    """The rest of issue 23's "Done when" in Chromium: the DSMB member asks for the closed
    session of the cut-off, the worker makes it, the page offers the PDF and it downloads; the
    ACC-209 response report shows Simon's stage decisions."""
    from carnet.reports.models import ReportRun
    from carnet.reports.tasks import dsmb_report_run

    load_demo()
    cutoff_create(
        actor=User.objects.get(username="unblinded"),
        study=Study.objects.get(identifier="ACC-209"),
        name="STAGE-1",
        reason="Stage 1 analysis",
        cut_on=date(2026, 11, 21),
    )
    dsmb = User.objects.get(username="dsmb")
    if not TOTPDevice.objects.filter(user=dsmb).exists():
        TOTPDevice.objects.create(user=dsmb, name="App", confirmed=True)
    page.set_default_timeout(120_000)
    sign_in(page, "dsmb")
    page.goto("/studies/MAINTAIN-CRC/reports/")
    page.locator("#dsmb-cutoff").select_option("DSMB-1")
    page.locator("#dsmb-session").select_option("closed")
    page.locator("#dsmb-start").click()
    expect(page.locator(".messages")).to_contain_text("queued for the worker")
    run = ReportRun.objects.filter(requested_by=dsmb).order_by("pk").last()
    assert run is not None
    dsmb_report_run.call(run.pk)  # what `carnet worker` does with the queued task
    line = page.locator(f"#dsmb-run-{run.pk}")
    expect(line).to_contain_text("Done.")
    with page.expect_download() as download:
        line.locator(".dsmb-download").click()
    with open(download.value.path(), "rb") as pdf:
        assert pdf.read(4) == b"%PDF"
    # ACC-209's response report, read by the blinded statistician: Simon's decisions.
    page.context.clear_cookies()
    sign_in(page, "statistician")
    page.goto("/studies/ACC-209/reports/")
    page.locator("#response-STAGE-1").click()
    report = page.locator("#report-response")
    expect(report).to_contain_text("optimal, stage 1 r1/n1 = 1/10, final r/n = 5/29")
    expect(report).to_contain_text("Stage 1")
    expect(report).to_contain_text("Final decision")
