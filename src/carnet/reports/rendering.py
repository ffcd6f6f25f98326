"""A report as a standalone HTML document (what the PDF is made from) and as a PDF."""

from __future__ import annotations

from django.template.loader import render_to_string

from carnet.core.pdf import html_to_pdf
from carnet.reports.datasets import Source
from carnet.reports.results import Report


def report_document(reports: list[Report], source: Source, *, title: str) -> str:
    """Return the reports as one standalone HTML page (styles inline, figures as PNG)."""
    return render_to_string(
        "reports/report_document.html",
        {"reports": reports, "source": source, "title": title, "source_line": source.line()},
    )


def report_pdf(reports: list[Report], source: Source, *, title: str) -> bytes:
    """Return the reports as a PDF; `PdfUnavailable` where WeasyPrint lacks Pango."""
    return html_to_pdf(report_document(reports, source, title=title))
