"""`carnet export STUDY --cutoff NAME --format FORMAT --output FILE.zip`: a study at a cut-off.

`--format odm` writes one CDISC ODM 1.3.2 file (FILE.xml), a snapshot or, with
`--mode transactional`, every change with its audit record."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from carnet.audit.services import SystemActor
from carnet.core.errors import CarnetError
from carnet.interop.exports import export_to_path
from carnet.interop.models import Cutoff
from carnet.interop.odm.export import MODES, odm_to_path
from carnet.interop.selectors import cutoff_named
from carnet.interop.writers import FORMATS
from carnet.studies.models import Study


def _bar(done: int, total: int, name: str) -> None:
    """Draw the progress bar on the terminal's error stream (the output stays clean)."""
    width = 30
    filled = width * done // max(total, 1)
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {name[:30]:30}")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


class Command(BaseCommand):
    help = (
        "Export a study's datasets at a named cut-off into a zip "
        "(CSV with SAS and R, Parquet, SAS XPT v5, Stata, SPSS, or the warehouse layout), or as "
        "one CDISC ODM 1.3.2 file."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("study", metavar="STUDY")
        parser.add_argument("--cutoff", required=True, metavar="NAME")
        parser.add_argument(
            "--format", choices=(*FORMATS, "odm"), default="csv", dest="file_format"
        )
        parser.add_argument("--output", type=Path, required=True, metavar="FILE.zip")
        parser.add_argument(
            "--mode",
            choices=MODES,
            default="snapshot",
            help="ODM only: the values at the cut-off (snapshot) or every change with its audit "
            "record (transactional).",
        )
        parser.add_argument(
            "--unblinded",
            action="store_true",
            help="Include the arm and arm-revealing items (for an unblinded analysis only).",
        )
        parser.add_argument(
            "--form", action="append", dest="forms", metavar="FORM", help="Only this form (repeat)."
        )
        parser.add_argument(
            "--site", action="append", dest="sites", metavar="CODE", help="Only this site (repeat)."
        )
        parser.add_argument(
            "--event",
            action="append",
            dest="events",
            metavar="EVENT",
            help="Only rows of this event (repeat).",
        )
        parser.add_argument(
            "--since",
            type=date.fromisoformat,
            metavar="YYYY-MM-DD",
            help="Only rows with a visit on or after this date.",
        )
        parser.add_argument(
            "--until",
            type=date.fromisoformat,
            metavar="YYYY-MM-DD",
            help="Only rows with a visit on or before this date.",
        )
        parser.add_argument(
            "--labels", action="store_true", help="Write codes as their labels (default: codes)."
        )
        parser.add_argument("--quiet", action="store_true", help="No progress bar.")

    def handle(self, *args: Any, **options: Any) -> None:
        study = Study.objects.filter(identifier=options["study"]).first()
        if study is None:
            raise CommandError(_("No study %(study)s.") % {"study": options["study"]})
        actor = SystemActor.command_line("carnet export")
        output: Path = options["output"]
        try:
            cutoff = cutoff_named(actor, study=study, name=options["cutoff"])
            if options["file_format"] == "odm":
                self._odm(actor, study, cutoff, options)
                return
            made = export_to_path(
                actor=actor,
                study=study,
                cutoff=cutoff,
                file_format=options["file_format"],
                output=output,
                unblinded=options["unblinded"],
                forms=options["forms"],
                sites=options["sites"],
                events=options["events"],
                since=options["since"],
                until=options["until"],
                labels=options["labels"],
                progress=None if options["quiet"] else _bar,
            )
        except OSError as error:
            raise CommandError(
                _("Cannot write %(file)s: %(error)s") % {"file": output, "error": error.strerror}
            ) from error
        except CarnetError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            _("%(file)s: %(count)s files from cut-off %(cutoff)s; manifest SHA-256 %(sha256)s.")
            % {
                "file": output,
                "count": len(made.files),
                "cutoff": cutoff.name,
                "sha256": made.manifest_sha256,
            }
        )

    def _odm(
        self, actor: SystemActor, study: Study, cutoff: Cutoff, options: dict[str, Any]
    ) -> None:
        dataset_options = ("forms", "sites", "events", "since", "until")
        if any(options[name] for name in dataset_options) or options["labels"]:
            raise CommandError(
                _(
                    "An ODM export holds the whole study at the cut-off (the sites you may "
                    "export): it takes no forms, sites, events, dates or labels."
                )
            )
        made = odm_to_path(
            actor=actor,
            study=study,
            cutoff=cutoff,
            output=options["output"],
            mode=options["mode"],
            unblinded=options["unblinded"],
        )
        self.stdout.write(
            _(
                "%(file)s: ODM 1.3.2 %(mode)s of %(subjects)s subjects, %(values)s values, from "
                "cut-off %(cutoff)s; SHA-256 %(sha256)s."
            )
            % {
                "file": options["output"],
                "mode": options["mode"],
                "subjects": made.subjects,
                "values": made.values,
                "cutoff": cutoff.name,
                "sha256": made.sha256,
            }
        )
