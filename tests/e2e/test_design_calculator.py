"""In Chromium: a person with no role in any study opens the design calculator, asks for the
Simon design the validation found beyond 100 patients, and reads it with its conventions and
YAML. Writes the guide's picture (docs/guide/design-calculator.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse

from tests.accounts.factories import PASSWORD, UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
IMAGES = Path(__file__).resolve().parents[2] / "docs" / "guide" / "img"


def test_a_signed_in_person_computes_a_simon_design_and_reads_its_yaml(page: Any) -> None:
    from playwright.sync_api import expect

    UserFactory.create(username="planner", password=PASSWORD)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(reverse("accounts:login"))
    page.get_by_label("User name").fill("planner")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: "/login/" not in url)
    page.goto(reverse("reports:design"))
    form = page.locator("#form-simon")
    form.get_by_label("Response rate not worth pursuing (p0)").fill("0.3")
    form.get_by_label("Response rate worth pursuing (p1)").fill("0.45")
    form.get_by_label("Power").fill("0.9")
    page.locator("#compute-simon").click()
    result = page.locator("#result-simon")
    expect(result).to_contain_text("13/40")
    expect(result).to_contain_text("40/110")
    expect(result).to_contain_text("the optimum is proven")
    expect(result.locator("pre.yaml")).to_contain_text("sample_size: 110")
    IMAGES.mkdir(parents=True, exist_ok=True)
    page.locator("#simon").screenshot(
        path=str(IMAGES / "design-calculator.png"), animations="disabled"
    )
