"""Issue 20's "Done when" for the documents of the trial master file, in Chromium: a site's
data entry person downloads the archival PDF of one patient's casebook from the casebook page,
and the annotated CRF opens as a PDF from the study's documents page. The guide's screenshots
of both pages are written to docs/guide/img/.

The study is MINI as tests/interop/conftest.py amends it (an arm-revealing kit number, an
identifying item), in production, with a randomised patient at site 01.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse

from carnet.audit.models import AuditEvent
from tests.accounts.factories import PASSWORD
from tests.interop.conftest import Exporting, exporting  # noqa: F401 (the fixture)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
IMAGES = Path(__file__).resolve().parents[2] / "docs" / "guide" / "img"


def sign_in(page: Any, username: str) -> None:
    page.goto("/login/")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")


def shot(target: Any, name: str) -> None:
    IMAGES.mkdir(parents=True, exist_ok=True)
    target.screenshot(path=str(IMAGES / name), animations="disabled")


def test_a_site_downloads_a_patients_archival_casebook_and_the_annotated_crf_is_a_pdf(
    page: Any,
    exporting: Exporting,  # noqa: F811
) -> None:
    subject = exporting.subject.identifier
    sign_in(page, exporting.entry.username)
    page.goto(reverse("capture:casebook", args=["MINI", subject]))
    link = page.locator("#casebook-pdf-link")
    assert link.is_visible()
    with page.expect_download() as info:
        link.click()
    download = info.value
    assert download.suggested_filename == f"MINI-{subject}-casebook.pdf"
    content = Path(download.path()).read_bytes()
    assert content.startswith(b"%PDF")
    assert len(content) > 1000
    exported = AuditEvent.objects.filter(action="casebook.exported").get()
    assert exported.new["blinded"] is True
    assert exported.actor_id == exporting.entry.pk

    page.goto(reverse("studies:study", args=["MINI"]))
    page.locator("#documents-link").click()
    page.wait_for_selector("#crf-links")
    shot(page, "documents.png")
    href = page.locator("#crf-annotated-pdf").get_attribute("href")
    answer = page.request.get(href)
    assert answer.status == 200
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.body().startswith(b"%PDF")
    # The HTML twin shows each item's SAS name, as the PDF does.
    page.goto(page.locator("#crf-annotated-html").get_attribute("href") or "")
    assert page.locator("code.sas").count() > 5
    shot(page, "annotated-crf.png")
