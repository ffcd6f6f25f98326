"""`carnet analysis dataset STUDY --cutoff NAME`: the subject-level analysis dataset of a
cut-off."""

from __future__ import annotations

import argparse
import io
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from carnet.accounts.permissions import PermissionDenied
from carnet.analysis import AnalysisInputError
from carnet.audit.services import SystemActor
from carnet.core.errors import CarnetError
from carnet.interop.selectors import cutoff_named
from carnet.reports.selectors import analysis_frame
from carnet.studies.models import Study


class Command(BaseCommand):
    help = (
        "Build the subject-level analysis dataset of a cut-off (OS, PFS with a censoring reason "
        "per subject, best overall response, duration of response, populations) as the study's "
        "statistical plan derives it."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        commands = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        dataset = commands.add_parser(
            "dataset", help="Write the analysis dataset (CSV or Parquet)."
        )
        dataset.add_argument("study", metavar="STUDY")
        dataset.add_argument("--cutoff", required=True, metavar="NAME")
        dataset.add_argument(
            "--output",
            type=Path,
            metavar="FILE.csv|FILE.parquet",
            help="Where to write it (default: CSV on the standard output).",
        )
        dataset.add_argument(
            "--unblinded",
            action="store_true",
            help="Keep the arm in the group column (for an unblinded analysis only).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        study = Study.objects.filter(identifier=options["study"]).first()
        if study is None:
            raise CommandError(_("No study %(study)s.") % {"study": options["study"]})
        actor = SystemActor.command_line("carnet analysis")
        try:
            cutoff = cutoff_named(actor, study=study, name=options["cutoff"])
            frame, source = analysis_frame(
                actor=actor, study=study, cutoff=cutoff, unblinded=options["unblinded"]
            )
        except (CarnetError, PermissionDenied, AnalysisInputError) as error:
            raise CommandError(str(error)) from error
        output: Path | None = options["output"]
        if output is None:
            buffer = io.StringIO()
            frame.write_csv(buffer)
            self.stdout.write(buffer.getvalue(), ending="")
            return
        try:
            if output.suffix == ".parquet":
                frame.write_parquet(output)
            else:
                frame.write_csv(output)
        except OSError as error:
            raise CommandError(
                _("Cannot write %(file)s: %(error)s") % {"file": output, "error": error.strerror}
            ) from error
        self.stdout.write(
            _("%(file)s: %(rows)s subjects, %(columns)s columns. %(source)s")
            % {
                "file": output,
                "rows": frame.height,
                "columns": frame.width,
                "source": source.line(),
            }
        )
