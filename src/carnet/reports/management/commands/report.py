"""`carnet report KIND STUDY --cutoff NAME`: a statistical report of a cut-off, as text, HTML,
PDF and figures."""

from __future__ import annotations

import argparse
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
from carnet.reports.rendering import report_document, report_pdf
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


class Command(BaseCommand):
    help = (
        "Make a statistical report of a cut-off (survival, response, safety, conduct, DSMB open "
        "or closed session) as text, HTML, PDF and figures."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "kind", choices=REPORT_KINDS, metavar="KIND", help=", ".join(REPORT_KINDS)
        )
        parser.add_argument("study", metavar="STUDY")
        parser.add_argument("--cutoff", required=True, metavar="NAME")
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
