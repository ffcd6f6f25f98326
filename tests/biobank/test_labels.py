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
    assert bars.startswith("<svg") and 'width="24.000mm"' in bars
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


def test_the_pdf_holds_the_identifiers(storage: Storage) -> None:
    pdf = labels_pdf([storage.plasma], layout="roll")
    assert pdf.startswith(b"%PDF")
    pypdf = pytest.importorskip("pypdf")
    from io import BytesIO

    text = pypdf.PdfReader(BytesIO(pdf)).pages[0].extract_text()
    assert "MINI-01-001-PL01" in text


def test_bad_label_requests_are_refused(storage: Storage) -> None:
    with pytest.raises(ValidationError, match="layout: choose sheet"):
        labels_html([storage.plasma], layout="zebra")
    with pytest.raises(ValidationError, match="choose at least one sample"):
        labels_html([], layout="sheet")
