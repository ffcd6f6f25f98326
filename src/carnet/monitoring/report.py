"""A monitoring visit's report as a standalone HTML page and as a PDF (WeasyPrint)."""

from __future__ import annotations

from django.template.loader import render_to_string

from carnet.core.pdf import html_to_pdf
from carnet.monitoring.models import MonitoringVisit
from carnet.monitoring.selectors import visit_report


def visit_report_html(visit: MonitoringVisit) -> str:
    """Return the visit's report as one standalone HTML page (what the PDF prints)."""
    return render_to_string("monitoring/visit_pdf.html", {"report": visit_report(visit)})


def visit_report_pdf(visit: MonitoringVisit) -> bytes:
    """Return the visit's report as a PDF; `PdfUnavailable` where Pango is missing."""
    return html_to_pdf(visit_report_html(visit))
