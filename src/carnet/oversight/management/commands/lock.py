"""`carnet lock add|lift|list STUDY`: lock and unlock a site's, a subject's, a visit's or a
form's data from the server, with a reason (audited as the command line)."""

from __future__ import annotations

import argparse
import csv
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from carnet.audit.services import SystemActor
from carnet.core.errors import CarnetError
from carnet.oversight.selectors import (
    command_place,
    lock_in_force_at,
    study_by_identifier,
    study_locks,
)
from carnet.oversight.services import Place, data_lock, data_unlock


def _place_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("study", metavar="STUDY")
    parser.add_argument("--site", default="", help="A site's code: lock all its data.")
    parser.add_argument("--subject", default="", help="A subject's identifier.")
    parser.add_argument("--event", default="", help="With --subject: a visit's event.")
    parser.add_argument("--occurrence", type=int, default=1, help="The visit's occurrence.")
    parser.add_argument("--form", default="", help="With --event: one form of the visit.")
    parser.add_argument("--repeat", type=int, default=1, help="The form's repeat (1).")
    parser.add_argument("--reason", required=True, help="Why; kept in the audit trail.")


class Command(BaseCommand):
    help = "Lock or unlock a site's, a subject's, a visit's or a form's data, with a reason."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        _place_arguments(actions.add_parser("add", help="Lock the data of a place."))
        _place_arguments(actions.add_parser("lift", help="Lift the lock in force at a place."))
        listing = actions.add_parser("list", help="Print the study's locks as CSV.")
        listing.add_argument("study", metavar="STUDY")
        listing.add_argument("--in-force", action="store_true", help="Only the locks in force.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, f"_{options['action']}")(options)
        except CarnetError as error:
            raise CommandError(str(error)) from error

    def _place(self, options: dict[str, Any]) -> tuple[Any, Place]:
        study = study_by_identifier(options["study"])
        scope, site, subject = command_place(
            study,
            site=options["site"],
            subject=options["subject"],
            event=options["event"],
            occurrence=options["occurrence"],
            form=options["form"],
            repeat=options["repeat"],
        )
        place = Place(
            scope=scope,
            site=site,
            subject=subject,
            event=options["event"],
            occurrence=options["occurrence"],
            form=options["form"],
            repeat=options["repeat"],
        )
        return study, place

    def _add(self, options: dict[str, Any]) -> None:
        study, place = self._place(options)
        actor = SystemActor.command_line("carnet lock add")
        lock = data_lock(actor=actor, study=study, place=place, reason=options["reason"])
        self.stdout.write(f"Locked {lock.place()} (lock #{lock.pk}).")

    def _lift(self, options: dict[str, Any]) -> None:
        study, place = self._place(options)
        place.check()
        lock = lock_in_force_at(study, place.keys(), place.site)
        actor = SystemActor.command_line("carnet lock lift")
        data_unlock(actor=actor, lock=lock, reason=options["reason"])
        self.stdout.write(f"Unlocked {lock.place()} (lock #{lock.pk}).")

    def _list(self, options: dict[str, Any]) -> None:
        study = study_by_identifier(options["study"])
        writer = csv.writer(self.stdout, lineterminator="\n")
        writer.writerow(["id", "place", "locked_by", "locked_at", "reason", "unlocked_at"])
        for lock in study_locks(study, in_force=options["in_force"]):
            writer.writerow(
                [
                    lock.pk,
                    lock.place(),
                    lock.locked_by,
                    lock.locked_at.isoformat(),
                    lock.reason,
                    lock.unlocked_at.isoformat() if lock.unlocked_at else "",
                ]
            )
