"""Issue 24 item 5 in Chromium: a nurse's adverse event whose verbatim matches no term of the
(synthetic) MedDRA waits in the coder's queue; the coder opens it from the study page, searches
the dictionary, chooses an LLT with a comment, and the term is coded to its PT and SOC. A
second event saved with a synonym is coded at the save. The screenshots of docs/guide/coder.md
are written here.

The study is the safety tests' MINI (adverse event and concomitant medication forms); the
dictionary is tests/coding/dictionary.py's, invented for the tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from carnet.audit.models import AuditEvent
from carnet.coding.models import CodedTerm, TermStatus
from tests.coding.conftest import Coding, coding  # noqa: F401 (the fixture)
from tests.e2e.test_queries import sign_in
from tests.safety.conftest import safety  # noqa: F401 (the fixture)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
IMAGES = Path(__file__).resolve().parents[2] / "docs" / "guide" / "img"
VIEWPORT = {"width": 1366, "height": 900}


def test_the_coder_codes_an_adverse_event_to_a_pt(
    browser: Any,
    live_server: Any,
    page: Any,
    coding: Coding,  # noqa: F811
) -> None:
    coding.safety.save_ae(
        None, ae_term="Fever with low neutrophils", ae_start="2026-02-02", ae_grade=4
    )
    coding.safety.save_ae(None, repeat=2, ae_term="feeling SICK", ae_start="2026-02-03", ae_grade=1)
    page.set_viewport_size(VIEWPORT)
    sign_in(page, "cora")
    page.goto("/studies/MINI/")
    page.locator("#coding-link").click()
    expect(page.locator("h1")).to_contain_text("Medical coding of MINI")
    expect(page.locator("#coding-counts")).to_contain_text("1 uncoded")
    IMAGES.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(IMAGES / "coder-queue.png"), full_page=True)
    page.get_by_role("link", name="Fever with low neutrophils").click()
    page.get_by_label("Words").fill("neutrop")
    page.get_by_role("button", name="Search").click()
    page.get_by_label("95000002 Neutropenic fever").check()
    page.get_by_label("Comment (optional)").fill("Fever with neutropenia: febrile neutropenia")
    page.screenshot(path=str(IMAGES / "coder-term.png"), full_page=True)
    page.get_by_role("button", name="Code to the chosen term").click()
    expect(page.locator("#term-status")).to_have_text("coded by a coder")
    expect(page.locator("#term-code")).to_contain_text("PT 94000001 Febrile neutropenia")
    expect(page.locator("#term-code")).to_contain_text("Blood disorders (test)")
    term = CodedTerm.objects.get(verbatim="Fever with low neutrophils")
    assert (term.status, term.pt_code, term.decided_by) == (TermStatus.CODED, 94000001, "Cora")
    assert AuditEvent.objects.filter(action="coding.term_coded").count() == 1
    # The synonym was coded at the save, without the coder.
    page.goto("/studies/MINI/coding/?status=all")
    expect(page.locator("#coding-queue")).to_contain_text("Nausea · Stomach disorders (test)")
