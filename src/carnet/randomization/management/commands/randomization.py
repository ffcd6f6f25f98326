"""`carnet randomization generate|import|kits|verify|report`: a study's randomisation list,
its kits and its proof, in the audit trail.

The seed of a generated list is never printed: it is what keeps the next allocations concealed.
The command prints the hash of the list's entries, which the randomisation report will quote.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from carnet.audit.services import SystemActor
from carnet.core.errors import CarnetError
from carnet.randomization.kits import kits_import
from carnet.randomization.services import ListWritten, list_generate, list_import
from carnet.studies.models import Study


class Command(BaseCommand):
    help = "Generate or import a study's randomisation list (permuted blocks)."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        generate = actions.add_parser(
            "generate",
            help="Generate the list of every stratum from a seed, or extend it from its own seed.",
        )
        generate.add_argument("study", metavar="STUDY")
        generate.add_argument(
            "--per-stratum",
            type=int,
            required=True,
            metavar="N",
            help="Entries per stratum (whole blocks: a stratum may get a few more).",
        )
        generate.add_argument(
            "--seed",
            type=int,
            help="The generator's seed (default: a secret random one). Never printed.",
        )
        imported = actions.add_parser(
            "import",
            help="Import or extend the list from a CSV made by SAS or R (all lines or none).",
        )
        imported.add_argument("study", metavar="STUDY")
        imported.add_argument("file", metavar="FILE.csv", type=Path)
        imported.add_argument(
            "--sha256", required=True, help="The file's SHA-256, as its author computed it."
        )
        kits = actions.add_parser(
            "kits",
            help="Add kits (CSV: site, number, arm) to a blinded study's per-site kit list.",
        )
        kits.add_argument("study", metavar="STUDY")
        kits.add_argument("file", metavar="FILE.csv", type=Path)
        verify = actions.add_parser(
            "verify",
            help="Replay every allocation from the lists, seeds, draws and audit trail; "
            "exit 1 on any difference.",
        )
        verify.add_argument("study", metavar="STUDY")
        report = actions.add_parser(
            "report",
            help="Write the randomisation report (PDF) for the trial master file.",
        )
        report.add_argument("study", metavar="STUDY")
        report.add_argument("--output", type=Path, required=True, metavar="FILE.pdf")
        report.add_argument(
            "--unblinded",
            action="store_true",
            help="Include each subject's arm and the balance by arm (for unblinded roles only).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        study = Study.objects.filter(identifier=options["study"]).first()
        if study is None:
            raise CommandError(_("No study %(study)s.") % {"study": options["study"]})
        action = options["action"]
        if action == "verify":
            self._verify(study)
            return
        if action == "report":
            self._write_report(study, options["output"], unblinded=options["unblinded"])
            return
        actor = SystemActor.command_line(f"carnet randomization {action}")
        if action == "kits":
            self._kits(study, actor, options["file"])
            return
        try:
            if action == "generate":
                written = list_generate(
                    actor=actor,
                    study=study,
                    per_stratum=options["per_stratum"],
                    seed=options["seed"],
                )
            else:
                path: Path = options["file"]
                try:
                    content = path.read_bytes()
                except OSError as error:
                    raise CommandError(
                        _("Cannot read %(file)s: %(error)s")
                        % {"file": path, "error": error.strerror}
                    ) from error
                written = list_import(
                    actor=actor,
                    study=study,
                    content=content,
                    sha256=options["sha256"],
                    file_name=path.name,
                )
        except CarnetError as error:
            raise CommandError(str(error)) from error
        self._report(study, written)

    def _report(self, study: Study, written: ListWritten) -> None:
        entries = written.allocation_list.entries.count()
        self.stdout.write(
            _(
                "%(study)s (%(environment)s): %(added)s entries added, %(entries)s in the list; "
                "entries SHA-256 %(sha256)s."
            )
            % {
                "study": study.identifier,
                "environment": written.allocation_list.environment,
                "added": written.added,
                "entries": entries,
                "sha256": written.sha256,
            }
        )

    def _kits(self, study: Study, actor: SystemActor, path: Path) -> None:
        try:
            content = path.read_bytes()
        except OSError as error:
            raise CommandError(
                _("Cannot read %(file)s: %(error)s") % {"file": path, "error": error.strerror}
            ) from error
        try:
            added = kits_import(actor=actor, study=study, content=content, file_name=path.name)
        except CarnetError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            _("%(study)s: %(added)s kits added to the kit list.")
            % {"study": study.identifier, "added": added}
        )

    def _verify(self, study: Study) -> None:
        from carnet.randomization.verification import study_randomisation_verify

        result = study_randomisation_verify(study)
        for difference in result.differences:
            self.stderr.write(str(difference))
        words = {
            "study": study.identifier,
            "allocations": result.allocations,
            "entries": result.entries,
            "differences": len(result.differences),
        }
        if not result.passed:
            raise CommandError(
                _(
                    "%(study)s: %(differences)s differences in %(allocations)s allocations and "
                    "%(entries)s list entries."
                )
                % words
            )
        self.stdout.write(
            _(
                "%(study)s: %(allocations)s allocations replayed and %(entries)s list entries "
                "checked; no difference."
            )
            % words
        )

    def _write_report(self, study: Study, output: Path, *, unblinded: bool) -> None:
        from carnet.accounts.blinding import Blinding
        from carnet.core.pdf import PANGO_PACKAGES, PdfUnavailable
        from carnet.randomization.report import randomisation_report, report_html, report_pdf

        report = randomisation_report(study=study, blinding=Blinding(unblinded=unblinded))
        try:
            pdf = report_pdf(report)
        except PdfUnavailable as missing:
            # Without Pango the same report is written as HTML, and the command says why.
            page = output.with_suffix(".html")
            page.write_text(report_html(report, standalone=True), encoding="utf-8")
            raise CommandError(
                _(
                    "No PDF: WeasyPrint could not load the system's Pango library (%(cause)s); "
                    "install %(packages)s. The report is written as HTML to %(file)s."
                )
                % {"cause": missing.cause, "packages": PANGO_PACKAGES, "file": page}
            ) from missing
        try:
            output.write_bytes(pdf)
        except OSError as error:
            raise CommandError(
                _("Cannot write %(file)s: %(error)s") % {"file": output, "error": error.strerror}
            ) from error
        self.stdout.write(
            _("%(study)s: randomisation report written to %(file)s.")
            % {"study": study.identifier, "file": output}
        )
