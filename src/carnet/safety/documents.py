"""Documents out of the safety workflow: the CIOMS-I form of a report version (HTML, PDF) and
the line listing of the SAEs reported in a period (CSV), for the annual safety report (DSUR
region-specific listing)."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

from django.db.models import QuerySet
from django.template.loader import render_to_string
from django.utils import translation

from carnet.core.pdf import html_to_pdf
from carnet.safety.case_data import CRITERIA, field_text, is_yes
from carnet.safety.models import ReportKind, SaeReport, SaeReportVersion
from carnet.safety.services import CAUSALITY, criteria_of

CIOMS_STYLE = """
body { font-family: sans-serif; font-size: 9pt; }
h1 { font-size: 13pt; margin: 0 0 6pt; }
table { border-collapse: collapse; width: 100%; margin-bottom: 6pt; }
th, td { border: 1px solid #000; padding: 3pt; text-align: left; vertical-align: top; }
th { background: #eee; width: 30%; }
.box { font-family: monospace; }
"""


def cioms_context(report: SaeReport, version: SaeReportVersion, *, arm: str) -> dict[str, Any]:
    """Return what the CIOMS-I form shows, from one version (arm as its reader may see it)."""
    content = version.content
    language = translation.get_language() or "en"
    event = content.get("adverse_event", {})
    return {
        "report": report,
        "version": version,
        "content": content,
        "term": field_text(content, "term", language),
        "onset": field_text(content, "onset"),
        "end": field_text(content, "end"),
        "grade": field_text(content, "grade", language),
        "outcome": field_text(content, "outcome", language),
        "causality": field_text(content, "causality", language),
        "criteria": {name: is_yes(event.get(name)) for name in CRITERIA},
        "met": criteria_of(content),
        "sponsor_causality": CAUSALITY.get(report.sponsor_causality or 0, ""),
        "arm": arm,
        "style": CIOMS_STYLE,
    }


def cioms_html(report: SaeReport, version: SaeReportVersion, *, arm: str) -> str:
    return render_to_string("safety/cioms.html", cioms_context(report, version, arm=arm))


def cioms_pdf(report: SaeReport, version: SaeReportVersion, *, arm: str) -> bytes:
    """Return the CIOMS-I form as a PDF; `PdfUnavailable` where the system lacks Pango."""
    return html_to_pdf(cioms_html(report, version, arm=arm))


LISTING_COLUMNS = (
    "reference",
    "version",
    "site",
    "subject",
    "term",
    "onset",
    "end",
    "grade",
    "outcome",
    "criteria",
    "investigator_causality",
    "sponsor_causality",
    "expected",
    "rsi",
    "susar",
    "susar_due_on",
    "susar_reported_on",
    "received",
    "kind",
    "aesi",
)


def line_listing_csv(reports: QuerySet[SaeReport], *, start: date, end: date) -> str:
    """Return the line listing (CSV) of the cases whose latest version was received between
    ``start`` and ``end`` inclusive: one line per case, its latest sent version."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(LISTING_COLUMNS)
    # Adverse reactions only: a pregnancy is listed by its own report, not as a reaction.
    reports = reports.exclude(kind=ReportKind.PREGNANCY)
    for report in reports.select_related("subject__site", "rsi").prefetch_related("versions"):
        sent = [v for v in report.versions.all() if v.sent_at is not None]
        if not sent or not (start <= sent[-1].sent_at.date() <= end):  # type: ignore[union-attr]
            continue
        last = sent[-1]
        content = last.content
        writer.writerow(
            [
                report.reference,
                last.number,
                report.subject.site.code,
                report.subject.identifier,
                field_text(content, "term"),
                field_text(content, "onset"),
                field_text(content, "end"),
                field_text(content, "grade"),
                field_text(content, "outcome"),
                " ".join(criteria_of(content)),
                field_text(content, "causality"),
                CAUSALITY.get(report.sponsor_causality or 0, ""),
                "" if report.expected is None else ("yes" if report.expected else "no"),
                report.rsi.version if report.rsi else "",
                "yes" if report.susar else "no",
                report.susar_due_on.isoformat() if report.susar_due_on else "",
                report.susar_reported_on.isoformat() if report.susar_reported_on else "",
                last.sent_at.date().isoformat(),  # type: ignore[union-attr]
                report.kind,
                "yes" if report.aesi else "no",
            ]
        )
    return out.getvalue()
