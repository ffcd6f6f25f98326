"""A new person's first day, in Chromium, as the issue tells it: the administrator creates an
account with a role at one site; the person sets a password, enrols a second factor, signs in,
sees only their study and site, switches to French and reads the phase III schedule grid."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import time_machine
from django_otp.oath import totp
from playwright.sync_api import expect

from carnet.audit.services import SystemActor
from carnet.core.clock import utc_now
from carnet.demo import demo_load, demo_studies_load

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
PASSWORD = "the demo password 2026"
NEW_PASSWORD = "Lyon, le 22 novembre!"


def code_for(secret: str, *, later: int = 0) -> str:
    key = base64.b32decode(secret)
    return f"{totp(key, t0=-later):06d}"


def enrol_on_page(page: Any) -> str:
    secret = page.locator("#totp-secret").inner_text().strip()
    page.get_by_label("Enter the code the app shows").fill(code_for(secret))
    page.get_by_role("button", name="Confirm").click()
    # count() does not wait for the answer to the click; expect does (CI under load read the
    # form page still in place and counted no recovery codes).
    expect(page.locator("#recovery-codes li")).to_have_count(10)
    page.get_by_role("link", name="Continue").click()
    return secret


@pytest.fixture
def demo() -> None:
    actor = SystemActor(label="e2e demo")
    demo_load(actor=actor, password=PASSWORD)
    demo_studies_load(actor=actor)


def test_a_new_data_entry_person_gets_going(page: Any, demo: None) -> None:
    # The administrator signs in and must enrol a second factor first.
    page.goto("/login/")
    page.get_by_label("User name").fill("admin")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/account/two-factor/")
    enrol_on_page(page)

    # Creates the account…
    page.goto("/administration/users/")
    form = page.locator("#user-form")
    form.get_by_label("User name").fill("mdurand")
    form.get_by_label("Name", exact=True).fill("Marie Durand")
    form.get_by_role("button", name="Create").click()
    link = page.locator("#password-link").inner_text().strip()
    # …and gives a data-entry role at site 01 of the phase III.
    page.goto("/administration/studies/MAINTAIN-CRC/memberships/")
    grant = page.locator("#grant-form")
    grant.get_by_label("Person").select_option("mdurand")
    grant.get_by_label("Role").select_option("data_entry")
    grant.get_by_label("Site").select_option("01")
    grant.get_by_role("button", name="Give the role").click()
    assert "mdurand is now Site data entry" in page.locator(".messages").inner_text()
    page.get_by_role("button", name="Sign out").click()

    # The new person chooses a password from the link.
    page.goto(link)
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password again").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Save the password").click()
    assert "Your password is set" in page.locator(".messages").inner_text()

    # Signs in, enrols an authenticator although the role does not require it.
    page.get_by_label("User name").fill("mdurand")
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto("/account/two-factor/")
    secret = enrol_on_page(page)
    page.get_by_role("button", name="Sign out").click()

    # Signs in again: password, then the code of the next period.
    with time_machine.travel(utc_now().timestamp() + 31, tick=True):
        page.get_by_label("User name").fill("mdurand")
        page.get_by_label("Password").fill(NEW_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/login/verify/")
        page.get_by_label("Code").fill(code_for(secret))
        page.get_by_role("button", name="Continue").click()

        # Sees only their study and their site.
        rows = page.locator("table tbody tr")
        expect(rows).to_have_count(1)
        assert "MAINTAIN-CRC" in rows.first.inner_text()
        assert "01 ICM" in rows.first.inner_text()
        assert "ACC-209" not in page.content()

        # Switches to French; the choice is remembered.
        page.get_by_label("Language").select_option("fr")
        page.get_by_role("button", name="Change").click()
        expect(page.locator("html")).to_have_attribute("lang", "fr")
        expect(page.get_by_role("heading", name="Mes études")).to_be_visible()

        # Reads the schedule grid of the phase III.
        page.get_by_role("link", name="MAINTAIN-CRC").click()
        grid = page.locator("#schedule-grid")
        grid.wait_for()
        assert grid.get_by_role("columnheader").count() > 5
        assert "Formulaires recueillis à chaque visite" in grid.locator("caption").inner_text()
        assert grid.locator("tbody tr").count() > 10
        assert page.get_by_role("heading", name="Calendrier").is_visible()


def test_six_wrong_passwords_lock_an_account(page: Any, demo: None) -> None:
    for attempt in range(6):
        page.goto("/login/")
        page.get_by_label("User name").fill("monitor")
        page.get_by_label("Password").fill(f"wrong password {attempt}")
        page.get_by_role("button", name="Sign in").click()
    assert "sign-in is paused" in page.locator(".alert").inner_text()
    # Even the right password is refused now, with the same words.
    page.get_by_label("User name").fill("monitor")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    assert "sign-in is paused" in page.locator(".alert").inner_text()
