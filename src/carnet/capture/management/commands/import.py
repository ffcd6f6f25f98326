"""`carnet import STUDY FILES… --reason TEXT [--dry-run]`: import CSV files of form data through
the bulk path; `carnet import template STUDY FORM`: print a form's CSV template;
`carnet import settings STUDY [--creates-subjects on|off --reason TEXT]`: show or change the
study's import settings."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from carnet.audit.services import SystemActor
from carnet.capture.bulk import ImportOutcome, files_import, import_template
from carnet.capture.bulk.settings import import_settings_of, import_settings_set
from carnet.core.errors import CarnetError
from carnet.studies.models import Study

BAR_WIDTH = 30


class Command(BaseCommand):
    help = (
        "Import CSV files of form data (one file per form, named after it) through the bulk "
        "path: validated, computed and checked like a save, written all or nothing with one "
        "audit event per changed value. `carnet import template STUDY FORM` prints a form's "
        "CSV template; `carnet import settings STUDY` shows the study's import settings, "
        "`--creates-subjects on|off --reason TEXT` changes whether an import registers the "
        "subjects it names and the study does not know."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "arguments",
            nargs="+",
            metavar="STUDY FILE",
            help="The study and the CSV files; or `template STUDY FORM`; or `settings STUDY`.",
        )
        parser.add_argument(
            "--creates-subjects",
            choices=["on", "off"],
            help=(
                "With `settings STUDY`: whether an import registers the subjects its files name "
                "and the study does not know (at the site of their `site` column)."
            ),
        )
        parser.add_argument("--reason", default="", help="Why, for the audit trail (required).")
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Report every problem (file, line, column, why) and write nothing.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        arguments = options["arguments"]
        if arguments[0] == "template":
            if len(arguments) != 3:
                raise CommandError(_("Usage: carnet import template STUDY FORM"))
            try:
                self.stdout.write(
                    import_template(study=self._study(arguments[1]), form=arguments[2]), ending=""
                )
            except CarnetError as error:
                raise CommandError(str(error)) from error
            return
        if arguments[0] == "settings":
            if len(arguments) != 2:
                raise CommandError(
                    _(
                        "Usage: carnet import settings STUDY "
                        "[--creates-subjects on|off --reason TEXT]"
                    )
                )
            self._settings(self._study(arguments[1]), options)
            return
        if len(arguments) < 2:
            raise CommandError(_("Name the study and at least one CSV file."))
        study = self._study(arguments[0])
        files = [Path(name) for name in arguments[1:]]
        for path in files:
            if not path.is_file():
                raise CommandError(_("No file %(file)s.") % {"file": str(path)})
        started = time.monotonic()
        try:
            outcome = files_import(
                actor=SystemActor.command_line("carnet import"),
                study=study,
                files=[(path.name, path.open("rb")) for path in files],
                reason=options["reason"],
                dry_run=options["dry_run"],
                progress=self._progress(),
            )
        except CarnetError as error:
            problems = getattr(error, "problems", None)
            if problems:
                for problem in problems:
                    self.stderr.write(str(problem))
                raise CommandError(
                    _("%(count)s problem(s): nothing was written.") % {"count": len(problems)}
                ) from error
            raise CommandError(str(error)) from error
        self._report(outcome, time.monotonic() - started)
        if outcome.problems:
            raise CommandError(
                _("%(count)s problem(s): nothing was written.") % {"count": len(outcome.problems)}
            )

    def _settings(self, study: Study, options: dict[str, Any]) -> None:
        if options["creates_subjects"] is not None:
            try:
                import_settings_set(
                    actor=SystemActor.command_line("carnet import"),
                    study=study,
                    creates_subjects=options["creates_subjects"] == "on",
                    reason=options["reason"],
                )
            except CarnetError as error:
                raise CommandError(str(error)) from error
        creates = import_settings_of(study).creates_subjects
        self.stdout.write(f"creates_subjects={'on' if creates else 'off'}")

    def _study(self, identifier: str) -> Study:
        study = Study.objects.filter(identifier=identifier).first()
        if study is None:
            raise CommandError(_("No study is called %(study)s.") % {"study": identifier})
        return study

    def _progress(self) -> Any:
        """Return the progress callback: a bar a terminal redraws, plain lines otherwise."""
        tty = self.stdout.isatty()

        def progress(done: int, total: int) -> None:
            filled = BAR_WIDTH * done // max(total, 1)
            line = f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done}/{total}"
            if tty:
                self.stdout.write("\r" + line, ending="")
                self.stdout.flush()
                if done == total:
                    self.stdout.write("")
            elif done == total:
                self.stdout.write(line)

        return progress

    def _report(self, outcome: ImportOutcome, seconds: float) -> None:
        for problem in outcome.problems:
            self.stdout.write(str(problem))
        if outcome.subjects_created:
            self.stdout.write(
                (
                    _("Dry run: %(count)d subjects would be created.")
                    if outcome.dry_run
                    else _("%(count)d subjects created.")
                )
                % {"count": outcome.subjects_created}
            )
        if outcome.dry_run:
            message = _(
                "Dry run: %(records)d forms read, %(problems)d problem(s); %(values)d values "
                "would change in %(forms)d forms, %(checks)d soft checks would fire. Nothing "
                "was written (%(seconds).1f s)."
            )
        else:
            message = _(
                "%(records)d forms read: %(values)d values changed in %(forms)d forms, "
                "%(checks)d soft checks fire, %(events)d audit events (%(seconds).1f s)."
            )
        self.stdout.write(
            message
            % {
                "records": outcome.records,
                "problems": len(outcome.problems),
                "values": outcome.values_changed,
                "forms": outcome.instances_changed,
                "checks": outcome.soft_checks,
                "events": outcome.audit_events,
                "seconds": seconds,
            }
        )
