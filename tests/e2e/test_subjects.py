"""Issue 7 in Chromium, as the issue tells it: a site data-entry person logs a screened patient,
is refused the inclusion of an ineligible one with the failed criterion shown, includes an
eligible one, records a new consent and reads the schedule with its windows; nine days later the
overdue list shows the patient whose cycle 1 visit window has passed.

The study is MINI (tests/studies/fixtures/mini.yaml): eligible when the weight is over 40 kg and
the patient smoked at most 60 pack-years; baseline is due on the inclusion day (window 7 days
before, none after), cycle 1 fourteen days after baseline (2 days before, 3 after).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import time_machine

from carnet.accounts.roles import Role
from carnet.subjects.models import Subject
from tests.accounts.personas import person, world

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
PASSWORD = "a long test password"
# 10:00 UTC is noon in Montpellier: the same day at the site and on the server.
INCLUSION_DAY = datetime(2025, 6, 16, 10, 0, tzinfo=UTC)
# Nine days after cycle 1's window closed (3 July); baseline closed on the inclusion day.
NINE_DAYS_LATER = datetime(2025, 7, 12, 10, 0, tzinfo=UTC)


def sign_in(page: Any, username: str) -> None:
    page.goto("/login/")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")


def test_a_data_entry_person_screens_includes_and_follows_a_patient(page: Any) -> None:
    with time_machine.travel(INCLUSION_DAY, tick=True):
        w = world()
        person("julie", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_a])
        sign_in(page, "julie")

        # From the study page to the screening log: a patient assessed and not included.
        page.goto("/studies/MINI/")
        page.get_by_role("navigation", name="Subjects").get_by_role(
            "link", name="Screening log"
        ).click()
        log = page.locator("#screening-form")
        log.get_by_label("Site").select_option("01")
        log.get_by_label("Screening date").fill("2025-06-12")
        log.get_by_label("Age (years)").fill("78")
        log.get_by_label("Sex").select_option("M")
        log.get_by_label("Reason not included").fill("ECOG 3")
        log.get_by_label("Screening number (optional)").fill("S-01")
        log.get_by_role("button", name="Add to the screening log").click()
        assert "The line is added to the screening log." in page.locator(".messages").inner_text()
        assert "ECOG 3" in page.locator("#screening-log").inner_text()

        # The registration wizard: an ineligible patient first (38 kg).
        page.get_by_role("link", name="Subjects", exact=True).first.click()
        page.get_by_role("link", name="Register a patient").click()
        wizard = page.locator("#inclusion-form")
        wizard.get_by_label("Site").select_option("01")
        wizard.get_by_label("Inclusion date").fill("2025-06-16")
        wizard.get_by_label("Screening number").fill("S-02")
        wizard.get_by_label("Sex").select_option("F")
        wizard.get_by_label("Age (years)").fill("61")
        wizard.get_by_label("Consent form version").fill("v1.0")
        wizard.get_by_label("Consent date").fill("2025-06-16")
        wizard.get_by_label("Weight").fill("38")
        wizard.get_by_label("Pack-years").fill("0")

        # Checking eligibility answers in place (htmx: the page is not reloaded), records nothing.
        page.evaluate("window.carnetNotReloaded = true")
        wizard.get_by_role("button", name="Check eligibility").click()
        result = page.locator("#eligibility-result")
        result.get_by_text("The patient is not eligible").wait_for()
        assert page.evaluate("window.carnetNotReloaded === true")
        failed = result.locator("tr.criterion-failed")
        assert failed.count() == 1
        assert "Weight over 40 kg" in failed.inner_text()

        # Including anyway is refused, with the failed criterion, and the values are kept.
        wizard.get_by_role("button", name="Include the patient").click()
        assert "Not included: the patient is not eligible." in page.locator(".alert").inner_text()
        refused = page.locator("#eligibility-result tr.criterion-failed")
        assert "Weight over 40 kg" in refused.inner_text()
        assert page.locator("#inclusion-form").get_by_label("Weight").input_value() == "38"
        assert page.locator("#inclusion-form").get_by_label("Screening number").input_value() == (
            "S-02"
        )

        assert not Subject.objects.exists()

        # The same patient weighed again: 72 kg, eligible, included.
        wizard = page.locator("#inclusion-form")
        wizard.get_by_label("Weight").fill("72")
        wizard.get_by_role("button", name="Include the patient").click()
        page.wait_for_url("**/studies/MINI/subjects/01-001/")
        assert "01-001 is included." in page.locator(".messages").inner_text()
        header = page.locator("#subject-header")
        assert "Subject 01-001" in header.get_by_role("heading").inner_text()
        assert "included" in header.locator("#study-status").inner_text()
        assert header.locator("#last-news").inner_text() == "2025-06-16"

        # A new consent (amendment), with the biobank consent this time.
        consent = page.locator("#consent-form")
        consent.get_by_label("Consent form version").fill("v2.0")
        consent.get_by_label("Consent date").fill("2025-06-16")
        consent.get_by_label("Biobank consent").check()
        consent.get_by_role("button", name="Record the consent").click()
        assert "The consent is recorded." in page.locator(".messages").inner_text()
        consents = page.locator("#consents tbody tr")
        assert consents.count() == 2
        assert "v2.0" in consents.nth(1).inner_text()
        assert "yes" in consents.nth(1).inner_text()

        # The schedule, with each window and its status.
        rows = page.locator("#schedule tbody tr")
        baseline, cycle = rows.nth(0).inner_text(), rows.nth(1).inner_text()
        assert "Baseline 1" in baseline
        assert "2025-06-09 – 2025-06-16" in baseline
        # Its window closes on the day of inclusion: counted done then, never chased (issue 14).
        assert "done" in baseline
        assert "Cycle 1" in cycle
        assert "2025-06-28 – 2025-07-03" in cycle
        assert "upcoming" in cycle
        assert page.locator("#schedule .window-due").count() == 0

        page.goto("/studies/MINI/overdue/")
        assert page.locator("#no-overdue").is_visible()

    # Nobody has recorded cycle 1: its window closed on 3 July.
    with time_machine.travel(NINE_DAYS_LATER, tick=True):
        sign_in(page, "julie")  # the session of the 16th has ended meanwhile
        page.goto("/studies/MINI/overdue/")
        site = page.get_by_role("region", name="Site 01 — Institut du Cancer de Montpellier")
        row = site.locator("tbody tr")
        assert row.count() == 1
        text = row.inner_text()
        assert "01-001" in text
        assert "Cycle 1" in text
        assert text.split()[-1] == "9"  # days overdue
        # The subject page says so too, in red and in words.
        row.get_by_role("link", name="01-001").click()
        assert "overdue" in page.locator("#schedule .window-overdue").first.inner_text()
