"""The header stays on one line on a common hospital screen (1366 × 768), in English and in
French, for a person with the longest header there is: an administrator who also monitors two
sites of a study, with a long name."""

from __future__ import annotations

from typing import Any

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from carnet.accounts.models import User
from carnet.accounts.roles import Role
from carnet.accounts.services import role_grant
from carnet.core.clock import utc_today
from tests.accounts.personas import ADMIN, with_second_factor, world
from tests.web.helpers import PASSWORD, current_code

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
WIDTH, HEIGHT = 1366, 768


@pytest.fixture
def administrator() -> User:
    w = world()
    user = User.objects.create_superuser(
        "dlefebvre", password=PASSWORD, full_name="Dominique Lefebvre-Marchand"
    )
    for site in (w.site_a, w.site_b):
        role_grant(
            actor=ADMIN,
            user=user,
            study=w.study,
            site=site,
            role=Role.MONITOR,
            starts_on=utc_today(),
        )
    return with_second_factor(user)


def sign_in(page: Any, user: User) -> None:
    page.goto("/login/")
    page.get_by_label("User name").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    device = TOTPDevice.objects.get(user=user)
    page.locator("input[name=code]").fill(current_code(device))
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url("**/")


def header_lines(page: Any) -> list[float]:
    """Return the vertical centres of what the header shows, one per line it takes."""
    centres = page.eval_on_selector_all(
        "header.top a, header.top select, header.top button, header.top label, "
        "header.top .who > span",
        """elements => elements
            .filter(e => e.offsetParent !== null)
            .map(e => { const r = e.getBoundingClientRect(); return r.top + r.height / 2; })""",
    )
    lines: list[float] = []
    for centre in sorted(centres):
        if not lines or centre - lines[-1] > 12:
            lines.append(centre)
    return lines


@pytest.mark.parametrize("language", ["en", "fr"])
def test_the_header_stays_on_one_line_at_1366_pixels(
    page: Any, administrator: User, language: str
) -> None:
    page.set_viewport_size({"width": WIDTH, "height": HEIGHT})
    sign_in(page, administrator)
    if language == "fr":
        page.locator("#language").select_option("fr")
        page.locator("#language").locator("xpath=..").locator("button").click()
        page.wait_for_load_state()
    for address in ("/", "/studies/MINI/"):
        page.goto(address)
        assert page.locator("html").get_attribute("lang") == language
        height = page.locator("header.top").bounding_box()["height"]
        assert len(header_lines(page)) == 1, (address, header_lines(page))
        assert height < 72, (address, height)
        # Nothing pushed past the edge of the screen instead.
        assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
        # The roles are all there to read, even where the line shortens them.
        roles = page.locator("header.top .roles")
        if roles.count():
            assert "02 IPC" in (roles.get_attribute("title") or "")
