"""Sample labels: a Code 128 barcode and a QR code of the sample's identifier, with the
identifier, type and collection date in text, as a PDF for label printers.

Two layouts, both of the cryo-label size most CRBs use (38 × 13 mm, for 1.5–2 mL tubes):

- ``sheet``: A4 sheets of 5 columns × 20 rows of 38 × 13 mm labels (100 per sheet; margins
  10 mm left and right, 18.5 mm top and bottom), for laser printers and pre-cut sheets;
- ``roll``: one 38 × 13 mm page per label, for thermal transfer roll printers (Zebra,
  Brady, Dymo), whose drivers print each PDF page on the next label.

On each label, the QR code (11 × 11 mm) sits on the left, the Code 128 barcode (24 mm wide,
5 mm high) and the identifier on the right. Barcodes are inline SVG drawn by python-barcode and
segno: vectors print sharp at any printer resolution.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import barcode
import segno
from barcode.writer import SVGWriter
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from carnet.biobank.models import Sample
from carnet.core.errors import ValidationError
from carnet.core.pdf import html_to_pdf

LAYOUTS = ("sheet", "roll")
LABEL_WIDTH_MM = 38
LABEL_HEIGHT_MM = 13
SHEET_COLUMNS = 5
SHEET_ROWS = 20
BARCODE_WIDTH_MM = 24.0
BARCODE_HEIGHT_MM = 5.0
QR_SIZE_MM = 11.0
MAX_LABELS = 2000  # 20 sheets: a bigger print is a mistake

_PROLOGUE = re.compile(r"^.*?(?=<svg)", re.DOTALL)


def code128_svg(text: str) -> SafeString:
    """Return the Code 128 barcode of ``text`` as inline SVG, BARCODE_WIDTH_MM wide."""
    code = barcode.Code128(text, writer=SVGWriter())
    modules = len(code.build()[0])
    quiet_zone = 1.0
    module_width = (BARCODE_WIDTH_MM - 2 * quiet_zone) / modules
    svg = code.render(
        {
            "module_width": module_width,
            "module_height": BARCODE_HEIGHT_MM,
            "quiet_zone": quiet_zone,
            "write_text": False,
            "compress": False,
            "margin_top": 0,
            "margin_bottom": 0,
        }
    ).decode("utf-8")
    # Inline in HTML: no XML prologue nor doctype, and no id (one per label would repeat).
    svg = _PROLOGUE.sub("", svg, count=1).replace(' id="barcode_group"', "")
    return mark_safe(svg)  # noqa: S308 (drawn by python-barcode)


def qr_svg(text: str) -> SafeString:
    """Return the QR code of ``text`` as inline SVG, QR_SIZE_MM square."""
    qr = segno.make(text, error="m", micro=False)
    width, _height = qr.symbol_size(scale=1, border=1)
    return mark_safe(  # noqa: S308 (drawn by segno)
        qr.svg_inline(scale=QR_SIZE_MM / width, border=1, unit="mm", omitsize=False)
    )


@dataclass(frozen=True)
class Label:
    identifier: str
    sample_type: str
    detail: str  # the collection date, or the parent for an aliquot
    code128: SafeString
    qr: SafeString


def labels_for(samples: list[Sample], copies: int = 1) -> list[Label]:
    """Return the labels of the samples, ``copies`` of each, in the order given."""
    if not samples:
        raise ValidationError(_("samples: choose at least one sample to label."))
    if not 1 <= copies <= 10:
        raise ValidationError(_("copies: print between 1 and 10 labels per sample."))
    if len(samples) * copies > MAX_LABELS:
        raise ValidationError(
            _("At most %(max)s labels at a time: choose fewer samples.") % {"max": MAX_LABELS}
        )
    labels = []
    for sample in samples:
        detail = (
            sample.collected_at.date().isoformat()
            if sample.collected_at
            else sample.created_at.date().isoformat()
        )
        label = Label(
            identifier=sample.identifier,
            sample_type=sample.sample_type,
            detail=detail,
            code128=code128_svg(sample.identifier),
            qr=qr_svg(sample.identifier),
        )
        labels.extend([label] * copies)
    return labels


def labels_html(samples: list[Sample], *, layout: str = "sheet", copies: int = 1) -> str:
    """Return the standalone HTML page of the labels, laid out for the printer."""
    if layout not in LAYOUTS:
        raise ValidationError(
            _("layout: choose sheet (A4, 100 labels) or roll (one label per page).")
        )
    labels = labels_for(samples, copies)
    per_sheet = SHEET_COLUMNS * SHEET_ROWS
    sheets = (
        [labels[start : start + per_sheet] for start in range(0, len(labels), per_sheet)]
        if layout == "sheet"
        else []
    )
    return render_to_string(
        "biobank/storage/labels.html",
        {
            "layout": layout,
            "labels": labels,
            "sheets": sheets,
            "width": LABEL_WIDTH_MM,
            "height": LABEL_HEIGHT_MM,
            "columns": SHEET_COLUMNS,
            "rows": SHEET_ROWS,
        },
    )


def labels_pdf(samples: list[Sample], *, layout: str = "sheet", copies: int = 1) -> bytes:
    """Return the labels as a PDF for a label printer (see the module's layouts)."""
    return html_to_pdf(labels_html(samples, layout=layout, copies=copies))
