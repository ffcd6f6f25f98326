"""`carnet deviations list STUDY --as USER`: the register of protocol deviations as CSV."""

from __future__ import annotations

import argparse
import csv
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from carnet.accounts.models import User
from carnet.accounts.selectors import study_for_actor
from carnet.core.errors import CarnetError
from carnet.quality.deviation_selectors import (
    DEVIATION_COLUMNS,
    deviation_record,
    deviation_rows,
    per_protocol_population,
)


class Command(BaseCommand):
    help = (
        "List a study's protocol deviations as CSV, as a person sees them (their sites, "
        "their blinding)."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        listing = actions.add_parser(
            "list",
            help="Write the deviations a person may see to standard output as CSV; the "
            "per-protocol count on standard error.",
        )
        listing.add_argument("study", metavar="STUDY")
        listing.add_argument(
            "--as",
            dest="person",
            required=True,
            metavar="USER",
            help="Whose sites and blinding apply (an active account with a role in the study).",
        )
        listing.add_argument("--site", default="", help="A site's code.")
        listing.add_argument("--subject", default="", help="A subject's identifier.")
        listing.add_argument(
            "--class", dest="deviation_class", default="", choices=["", "major", "minor"]
        )
        listing.add_argument("--category", default="")
        listing.add_argument(
            "--status",
            default="",
            choices=["", "pending", "confirmed", "rejected", "resolved", "unresolved"],
        )

    def handle(self, *args: Any, **options: Any) -> None:
        person = User.objects.filter(username=options["person"], is_active=True).first()
        if person is None:
            raise CommandError(_("No active account %(name)s.") % {"name": repr(options["person"])})
        try:
            study = study_for_actor(person, options["study"])
            rows = deviation_rows(
                person,
                study=study,
                site=options["site"],
                subject=options["subject"],
                deviation_class=options["deviation_class"],
                category=options["category"],
                status=options["status"],
            )
            writer = csv.DictWriter(self.stdout, fieldnames=DEVIATION_COLUMNS, lineterminator="\n")
            writer.writeheader()
            count = 0
            for row in rows:
                writer.writerow(deviation_record(row))
                count += 1
            population = per_protocol_population(study=study, actor=person)
        except CarnetError as error:
            raise CommandError(str(error)) from error
        self.stderr.write(
            _(
                "%(study)s: %(count)s deviations; per protocol %(size)s subjects (%(excluded)s "
                "excluded, %(pending)s major deviations awaiting review)."
            )
            % {
                "study": study.identifier,
                "count": count,
                "size": population.size,
                "excluded": len(population.excluded),
                "pending": population.pending_major,
            }
        )
