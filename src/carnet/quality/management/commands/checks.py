"""`carnet checks run STUDY`: re-evaluate every soft edit check over the whole study."""

from __future__ import annotations

import argparse
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from carnet.audit.services import SystemActor
from carnet.quality.rechecks import RecheckOutcome, checks_recheck
from carnet.studies.models import Study

BAR_WIDTH = 30


class Command(BaseCommand):
    help = (
        "Re-check a whole study: every soft edit check over every form, opening and closing "
        "check results in bulk."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        run = actions.add_parser(
            "run",
            help="Re-evaluate every soft check of the study over its data (idempotent); "
            "print the counts per rule.",
        )
        run.add_argument("study", metavar="STUDY")
        run.add_argument("--reason", default="", help="Why, for the audit trail.")

    def handle(self, *args: Any, **options: Any) -> None:
        study = Study.objects.filter(identifier=options["study"]).first()
        if study is None:
            raise CommandError(_("No study is called %(study)s.") % {"study": options["study"]})
        if study.current_version is None:
            raise CommandError(
                _("Study %(study)s has no published version: nothing to check.")
                % {"study": study.identifier}
            )
        actor = SystemActor.command_line("carnet checks run")
        started = time.monotonic()
        outcome = checks_recheck(
            actor=actor, study=study, reason=options["reason"], progress=self._progress()
        )
        self._report(outcome, time.monotonic() - started)

    def _progress(self) -> Any:
        """Return the progress callback: a bar a terminal redraws, plain lines otherwise."""
        tty = self.stdout.isatty()

        def progress(done: int, total: int) -> None:
            filled = BAR_WIDTH * done // max(total, 1)
            bar = "#" * filled + "." * (BAR_WIDTH - filled)
            line = f"[{bar}] {done}/{total}"
            if tty:
                self.stdout.write("\r" + line, ending="")
                self.stdout.flush()
                if done == total:
                    self.stdout.write("")
            elif done == total:
                self.stdout.write(line)

        return progress

    def _report(self, outcome: RecheckOutcome, seconds: float) -> None:
        width = max((len(name) for name in outcome.rules), default=4) + 2
        self.stdout.write(
            f"{_('Rule').ljust(width)}{_('Form'):<16}{_('Firing'):>8}{_('Opened'):>8}"
            f"{_('Closed'):>8}"
        )
        for count in outcome.rules.values():
            self.stdout.write(
                f"{count.check.ljust(width)}{count.form:<16}{count.firing:>8}{count.opened:>8}"
                f"{count.closed:>8}"
            )
        self.stdout.write(
            _(
                "%(forms)d forms and %(values)d values checked in %(seconds).1f s: "
                "%(opened)d results opened, %(closed)d closed."
            )
            % {
                "forms": outcome.forms_checked,
                "values": outcome.values_read,
                "seconds": seconds,
                "opened": outcome.opened,
                "closed": outcome.closed,
            }
        )
