"""`carnet odm …`: check an ODM 1.3.2 file, import its clinical data into a study.

The study definition of an ODM file is imported with `carnet study import-odm FILE`; a study at
a cut-off is exported with `carnet export STUDY --cutoff NAME --format odm`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from carnet.audit.services import SystemActor
from carnet.capture.bulk.engine import ImportRefused
from carnet.core.errors import CarnetError
from carnet.interop.odm.data_import import odm_file_import
from carnet.interop.odm.reading import odm_limit_bytes, odm_read
from carnet.studies.models import Study


class Command(BaseCommand):
    help = (
        "Check a CDISC ODM 1.3.2 file against the official schema, or import its clinical data "
        "into a study (all or nothing, audited with your reason)."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        check = actions.add_parser(
            "check", help="Check a file: safe to read and valid ODM 1.3.2 (the first error's line)."
        )
        check.add_argument("file", type=Path, help="The ODM XML file.")
        data = actions.add_parser(
            "import-data",
            help="Import the file's clinical data into a study through the bulk path: every "
            "value checked as a save, all or nothing.",
        )
        data.add_argument("study", metavar="STUDY")
        data.add_argument("file", type=Path, help="The ODM XML file.")
        data.add_argument("--reason", required=True, help="Why; kept in the audit trail.")
        data.add_argument("--dry-run", action="store_true", help="Check everything, write nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["action"] == "check":
                self._check(options)
            else:
                self._import_data(options)
        except ImportRefused as refused:
            for problem in refused.problems:
                self.stdout.write(str(problem))
            raise CommandError(
                _("%(count)s problem(s); nothing was written.") % {"count": len(refused.problems)}
            ) from refused
        except OSError as error:
            raise CommandError(
                _("Cannot read %(file)s: %(error)s")
                % {"file": options["file"], "error": error.strerror}
            ) from error
        except CarnetError as error:
            raise CommandError(str(error)) from error

    def _check(self, options: dict[str, Any]) -> None:
        root = odm_read(options["file"])
        self.stdout.write(
            _("%(file)s is valid ODM %(version)s (%(type)s).")
            % {
                "file": options["file"],
                "version": root.get("ODMVersion"),
                "type": root.get("FileType"),
            }
        )

    def _import_data(self, options: dict[str, Any]) -> None:
        study = Study.objects.filter(identifier=options["study"]).first()
        if study is None:
            raise CommandError(_("No study %(study)s.") % {"study": options["study"]})
        path: Path = options["file"]
        with path.open("rb") as stream:
            data = stream.read(odm_limit_bytes() + 1)  # one byte over says it is too big
        made = odm_file_import(
            actor=SystemActor.command_line("carnet odm import-data"),
            study=study,
            data=data,
            reason=options["reason"],
            name=path.name,
            dry_run=options["dry_run"],
        )
        outcome = made.outcome
        for problem in outcome.problems:
            self.stdout.write(str(problem))
        summary = _(
            "%(records)s forms read, %(instances)s changed, %(values)s values changed, "
            "%(recomputed)s calculated values computed again, %(problems)s problem(s); "
            "%(history)s audit records of the source system kept as the import's provenance."
        ) % {
            "records": outcome.records,
            "instances": outcome.instances_changed,
            "values": outcome.values_changed,
            "recomputed": made.recomputed,
            "problems": len(outcome.problems),
            "history": made.source_records,
        }
        if outcome.dry_run:
            summary += " " + _("Dry run: nothing was written.")
        self.stdout.write(summary)
