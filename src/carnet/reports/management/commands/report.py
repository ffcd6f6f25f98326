"""`carnet report KIND STUDY --cutoff NAME`: a statistical report of a cut-off, as text, HTML,
PDF and figures; `carnet report activity [--year Y] [--format csv|pdf|html]`: the centre's
activity report across every study of the installation."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from carnet.accounts.permissions import PermissionDenied
from carnet.analysis import AnalysisInputError
from carnet.audit.services import SystemActor
from carnet.core.errors import CarnetError
from carnet.core.pdf import PANGO_PACKAGES, PdfUnavailable
from carnet.interop.selectors import cutoff_named
from carnet.reports.activity import ActivityReport, activity_csv, activity_report, percent
from carnet.reports.rendering import activity_document, report_document, report_pdf
from carnet.reports.results import Report
from carnet.reports.selectors import REPORT_KINDS, report_of
from carnet.studies.models import Study


def report_text(report: Report, source_line: str) -> str:
    """Return the report as plain text: values, tables and the conventions used."""
    lines = [report.title, source_line, ""]
    for section in report.sections:
        lines.append(f"== {section.title}")
        lines += [f"{label}: {value}" for label, value in section.values]
        for table in section.tables:
            lines.append(table.title)
            lines.append("  " + " | ".join(table.columns))
            lines += ["  " + " | ".join(row) for row in table.rows]
        lines += [f"Figure: {figure.title}" for figure in section.figures]
        lines += section.notes
        lines += [f"Conventions: {line}" for line in section.conventions]
        lines.append("")
    return "\n".join(lines)


def activity_text(report: ActivityReport) -> str:
    """Return the activity report as plain text: the yearly summary, then the tables."""
    lines = [
        str(_("The centre's activity report")),
        (f"{report.year}" if report.year else str(_("Every year")))
        + f" · {report.studies} "
        + str(_("studies counted"))
        + f" · {report.on.isoformat()}",
        "",
        " | ".join(
            [
                str(_("Year")),
                str(_("Trials open")),
                str(_("Trials including")),
                str(_("Patients included")),
                str(_("Patients randomised")),
                *[str(label) for label in report.counters],
            ]
        ),
    ]
    lines += [
        " | ".join(
            str(v)
            for v in (
                y.year,
                y.trials_open,
                y.trials_including,
                y.included,
                y.randomised,
                *y.counts,
            )
        )
        for y in report.years
    ]
    lines += [
        "",
        " | ".join(
            [
                str(_("Year")),
                str(_("Study")),
                str(_("Site")),
                str(_("Centre")),
                str(_("Included")),
                str(_("Randomised")),
                *[str(label) for label in report.counters],
            ]
        ),
    ]
    lines += [
        " | ".join(
            str(v)
            for v in (
                row.year,
                row.study,
                row.site,
                row.centre,
                row.included,
                row.randomised,
                *row.counts,
            )
        )
        for row in report.rows
    ]
    lines += [
        "",
        " | ".join(
            [
                str(_("Study")),
                str(_("Site")),
                str(_("Open queries")),
                str(_("Answered queries")),
                str(_("Closed queries")),
                str(_("Forms expected")),
                str(_("Forms finished")),
                str(_("Completeness")),
            ]
        ),
    ]
    lines += [
        " | ".join(
            str(v)
            for v in (
                q.study,
                q.site,
                q.queries_open,
                q.queries_answered,
                q.queries_closed,
                q.forms_expected,
                q.forms_finished,
                percent(q.completeness) or "—",
            )
        )
        for q in report.quality
    ]
    return "\n".join(lines)


class Command(BaseCommand):
    help = (
        "Make a statistical report of a cut-off (survival, response, safety, conduct, DSMB open "
        "or closed session) as text, HTML, PDF and figures; or, with KIND activity, the centre's "
        "activity report across every study (no STUDY, no --cutoff)."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        kinds = (*REPORT_KINDS, "activity")
        parser.add_argument("kind", choices=kinds, metavar="KIND", help=", ".join(kinds))
        parser.add_argument("study", metavar="STUDY", nargs="?", help="Not for activity.")
        parser.add_argument("--cutoff", metavar="NAME", help="Required except for activity.")
        parser.add_argument(
            "--year", type=int, metavar="YEAR", help="activity: count one year only."
        )
        parser.add_argument(
            "--format",
            choices=("text", "csv", "html", "pdf"),
            default="text",
            help="activity: what to write (standard output, or --output).",
        )
        parser.add_argument("--output", type=Path, metavar="FILE", help="activity: the file.")
        parser.add_argument(
            "--unblinded",
            action="store_true",
            help="Results by arm (for an unblinded analysis only; dsmb-closed needs it).",
        )
        parser.add_argument("--html", type=Path, metavar="FILE.html")
        parser.add_argument("--pdf", type=Path, metavar="FILE.pdf")
        parser.add_argument(
            "--figures", type=Path, metavar="FOLDER", help="Write each figure as PNG and SVG."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["kind"] == "activity":
            self._activity(options)
            return
        if not options["study"] or not options["cutoff"]:
            raise CommandError(_("%(kind)s needs a STUDY and --cutoff NAME.") % options)
        study = Study.objects.filter(identifier=options["study"]).first()
        if study is None:
            raise CommandError(_("No study %(study)s.") % {"study": options["study"]})
        actor = SystemActor.command_line("carnet report")
        try:
            cutoff = cutoff_named(actor, study=study, name=options["cutoff"])
            report, source = report_of(
                actor=actor,
                study=study,
                cutoff=cutoff,
                kind=options["kind"],
                unblinded=options["unblinded"],
            )
        except (CarnetError, PermissionDenied, AnalysisInputError) as error:
            raise CommandError(str(error)) from error
        title = f"{report.title}: {study.identifier}, cut-off {cutoff.name}"
        self.stdout.write(report_text(report, source.line()))
        try:
            self._write(report, source, title, options)
        except OSError as error:
            raise CommandError(str(error)) from error

    def _write(self, report: Report, source: Any, title: str, options: dict[str, Any]) -> None:
        if options["html"]:
            options["html"].write_text(report_document([report], source, title=title), "utf-8")
            self.stdout.write(_("HTML written to %(file)s.") % {"file": options["html"]})
        if options["pdf"]:
            try:
                options["pdf"].write_bytes(report_pdf([report], source, title=title))
            except PdfUnavailable as error:
                raise CommandError(
                    _("No PDF: install %(packages)s.") % {"packages": PANGO_PACKAGES}
                ) from error
            self.stdout.write(_("PDF written to %(file)s.") % {"file": options["pdf"]})
        if options["figures"]:
            folder: Path = options["figures"]
            folder.mkdir(parents=True, exist_ok=True)
            for section in report.sections:
                for figure in section.figures:
                    (folder / f"{figure.name}.png").write_bytes(figure.png)
                    (folder / f"{figure.name}.svg").write_text(figure.svg, "utf-8")
            self.stdout.write(_("Figures written to %(folder)s.") % {"folder": folder})

    def _activity(self, options: dict[str, Any]) -> None:
        """Write the activity report of every study of the installation (a command counts all)."""
        if options["study"] or options["cutoff"]:
            raise CommandError(_("activity counts every study: give no STUDY and no --cutoff."))
        actor = SystemActor.command_line("carnet report activity")
        try:
            report = activity_report(actor, year=options["year"])
        except CarnetError as error:
            raise CommandError(str(error)) from error
        kind = options["format"]
        body: bytes
        if kind == "pdf":
            from carnet.core.pdf import html_to_pdf

            try:
                body = html_to_pdf(activity_document(report))
            except PdfUnavailable as error:
                raise CommandError(
                    _("No PDF: install %(packages)s.") % {"packages": PANGO_PACKAGES}
                ) from error
        elif kind == "csv":
            body = activity_csv(report).encode("utf-8")
        elif kind == "html":
            body = activity_document(report).encode("utf-8")
        else:
            body = (activity_text(report) + "\n").encode("utf-8")
        output: Path | None = options["output"]
        if output is None:
            self.stdout.flush()
            sys.stdout.buffer.write(body)
            sys.stdout.buffer.flush()
            return
        try:
            output.write_bytes(body)
        except OSError as error:
            raise CommandError(str(error)) from error
        self.stderr.write(_("Activity report written to %(file)s.") % {"file": output})
