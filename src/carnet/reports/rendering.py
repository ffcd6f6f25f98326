"""A report as a standalone HTML document (what the PDF is made from) and as a PDF."""

from __future__ import annotations

from django.template.loader import render_to_string
from django.utils.translation import gettext as _

from carnet.core.pdf import html_to_pdf
from carnet.reports.activity import ActivityReport
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


def activity_document(report: ActivityReport) -> str:
    """Return the activity report as one standalone HTML page (what its PDF is made from)."""
    if report.year is None:
        title = _("The centre's activity report, every year")
    else:
        title = _("The centre's activity report, %(year)s") % {"year": report.year}
    return render_to_string("reports/activity_document.html", {"report": report, "title": title})
