"""Labels: a Code 128 barcode and a QR code per sample, on an A4 sheet or a roll, as a PDF that
carries the identifiers."""

from __future__ import annotations

import pytest

from carnet.biobank.labels import code128_svg, labels_html, labels_pdf, qr_svg
from carnet.core.errors import ValidationError
from tests.biobank.storage_world import Storage, storage_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def storage() -> Storage:
    return storage_world()


def test_barcodes_are_inline_svg() -> None:
    bars = code128_svg("MINI-01-001-PL01-A01")
    assert bars.startswith("<svg")
    assert 'width="24.000mm"' in bars
    assert qr_svg("MINI-01-001-PL01-A01").startswith("<svg")


def test_a_sheet_and_a_roll_carry_every_identifier(storage: Storage) -> None:
    samples = [storage.plasma, storage.sample("MINI-01-001-PL02")]
    sheet = labels_html(samples, layout="sheet", copies=2)
    assert sheet.count('data-identifier="MINI-01-001-PL01"') == 2
    assert sheet.count('class="sheet"') == 1
    assert "size: A4" in sheet
    roll = labels_html(samples, layout="roll")
    assert "size: 38mm 13mm" in roll
    assert roll.count('class="label"') == 2


def test_the_pdf_is_one_label_per_page_on_a_roll_and_100_per_sheet(storage: Storage) -> None:
    # pypdf is not a dependency: the identifiers are checked in the HTML above, the layout here
    # by counting the pages WeasyPrint lays out.
    from weasyprint import HTML

    samples = [storage.plasma, storage.sample("MINI-01-001-PL02"), storage.sample("X-3")]
    assert labels_pdf(samples, layout="roll").startswith(b"%PDF")
    roll = HTML(string=labels_html(samples, layout="roll")).render()
    assert len(roll.pages) == 3
    assert round(roll.pages[0].width * 25.4 / 96) == 38  # CSS px to mm
    assert round(roll.pages[0].height * 25.4 / 96) == 13
    many = samples + [storage.sample(f"X-{number}") for number in range(4, 12)]
    sheet = HTML(string=labels_html(many, layout="sheet", copies=10)).render()
    assert len(sheet.pages) == 2  # 110 labels: a full sheet of 100 and 10 on the next


def test_bad_label_requests_are_refused(storage: Storage) -> None:
    with pytest.raises(ValidationError, match="layout: choose sheet"):
        labels_html([storage.plasma], layout="zebra")
    with pytest.raises(ValidationError, match="choose at least one sample"):
        labels_html([], layout="sheet")
