"""Issue 8 in Chromium, as the issue tells it: a site data-entry person opens an included
patient's casebook, enters the baseline vital signs (screening) and target lesions (three rows),
sees a soft-check message while typing, completes both forms, corrects a value of the completed
vital signs with a reason and reads it in the item's history drawer; a monitor of another site
cannot open the patient.

The study is MINI (tests/studies/fixtures/mini.yaml): vital signs have a calculated BMI, a soft
check "SBP must exceed DBP" and pack-years asked of smokers only; target lesions are a repeating
group whose diameters add up in a calculated sum.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
import time_machine
from playwright.sync_api import expect

from carnet.accounts.roles import Role
from carnet.studies.services import study_mode_change
from tests.accounts.personas import ADMIN, person, world
from tests.capture.conftest import include

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
PASSWORD = "a long test password"
# 10:00 UTC is 11:00 in Montpellier: the same day at the site and on the server.
INCLUSION_DAY = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
CASEBOOK = "/studies/MINI/subjects/01-001/casebook/"


def sign_in(page: Any, username: str) -> None:
    page.goto("/login/")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")


def type_into(page: Any, selector: str, text: str) -> None:
    """Type a value and leave the field, as a person tabbing through the form does."""
    page.locator(selector).fill(text)
    page.locator(selector).press("Tab")


def test_a_data_entry_person_enters_and_corrects_baseline_forms(page: Any) -> None:
    with time_machine.travel(INCLUSION_DAY, tick=True):
        w = world()
        study_mode_change(actor=ADMIN, study=w.study, mode="production")
        julie = person("julie", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_a])
        person("paul", study=w.study, role=Role.MONITOR, sites=[w.site_b])
        include(w, julie, on=date(2026, 3, 2))
        sign_in(page, "julie")

        # The casebook: baseline is due today, nothing is started yet.
        page.goto(CASEBOOK)
        grid = page.locator("#casebook")
        assert "Baseline" in grid.inner_text()
        assert "2026-03-02" in grid.inner_text()
        assert grid.locator("td.status-not_started").count() >= 2
        grid.locator("a[href$='/forms/baseline/1/vitals/']").click()
        page.wait_for_url("**/forms/baseline/1/vitals/")

        # Vital signs, typed with a decimal comma; live validation computes the BMI…
        type_into(page, "#f-weight", "72,5")
        type_into(page, "#f-height", "175")
        expect(page.locator("#calc-bmi")).to_have_text("23.673469")
        # …shows the soft check next to the blood pressures while they are typed…
        type_into(page, "#f-sbp", "80")
        type_into(page, "#f-dbp", "120")
        sbp_messages = page.locator("#msg-sbp")
        sbp_messages.get_by_text("SBP must exceed DBP").wait_for()
        # …and asks pack-years of a smoker only.
        assert page.locator("#item-packs").is_hidden()
        page.locator("#f-smoker").select_option(label="Yes")
        page.locator("#item-packs").wait_for(state="visible")
        type_into(page, "#f-packs", "20")
        page.get_by_label("The form is complete").check()
        page.get_by_role("button", name="Save the form").click()
        expect(page.locator(".messages")).to_contain_text("The form is saved.")
        expect(page.locator(".messages")).to_contain_text("1 check(s) to look at")
        expect(page.locator("#msg-sbp")).to_contain_text("SBP must exceed DBP")
        expect(page.locator("#form-status")).to_have_text("complete")

        # Target lesions: three rows, two of them added by the "Add a row" button.
        page.goto(CASEBOOK)
        page.locator("#casebook a[href$='/forms/baseline/1/lesions/']").click()
        page.wait_for_url("**/forms/baseline/1/lesions/")
        for number, (site, diameter) in enumerate(
            [("liver", "23"), ("lung", "31"), ("mediastinal node", "15")], start=1
        ):
            if number > 1:
                page.get_by_role("button", name="Add a row").click()
                page.locator(f"#f-target-{number}-lesion_site").wait_for()
            type_into(page, f"#f-target-{number}-lesion_site", site)
            type_into(page, f"#f-target-{number}-diameter", diameter)
        expect(page.locator("#calc-sum_diameters")).to_have_text("69")
        page.get_by_label("The form is complete").check()
        page.get_by_role("button", name="Save the form").click()
        expect(page.locator(".messages")).to_contain_text("The form is saved.")
        expect(page.locator("#rows-target tbody tr")).to_have_count(3)
        expect(page.locator("#calc-sum_diameters")).to_have_text("69")

        # Back in the casebook, both baseline forms are complete, the check is counted.
        page.goto(CASEBOOK)
        expect(page.locator("#casebook td.status-complete")).to_have_count(2)
        assert "1 check" in page.locator("#casebook").inner_text()

        # Correcting the completed vital signs needs a reason…
        page.locator("#casebook a[href$='/forms/baseline/1/vitals/']").click()
        page.wait_for_url("**/forms/baseline/1/vitals/")
        type_into(page, "#f-weight", "73")
        page.locator("#msg-reason").get_by_text("say why you change it").wait_for()
        page.get_by_label("Reason for the change").fill("transcription error")
        page.get_by_role("button", name="Save the form").click()
        expect(page.locator(".messages")).to_contain_text("The form is saved.")
        expect(page.locator("#f-weight")).to_have_value("73")

        # …and the history drawer of the weight tells who, when, old, new and why.
        drawer = page.locator("#item-weight details.capture-history")
        drawer.locator("summary").click()
        drawer.locator("table.capture-history-table").wait_for()
        last = drawer.locator("tbody tr").last.inner_text()
        assert "julie" in last
        assert "72.5" in last
        assert "73" in last
        assert "transcription error" in last
        page.get_by_role("button", name="Sign out").click()

        # A monitor of site B cannot open the patient of site A, by any address.
        sign_in(page, "paul")
        for address in (CASEBOOK, "/studies/MINI/subjects/01-001/forms/baseline/1/vitals/"):
            response = page.goto(address)
            assert response.status == 404, address
            assert "transcription error" not in page.content()
