"""`carnet queries list STUDY`: a study's queries as CSV on the standard output."""

from __future__ import annotations

import argparse
import csv
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from carnet.quality.selectors import QueryFilters, queries_for_server
from carnet.studies.models import Study

COLUMNS = [
    "id",
    "site",
    "subject",
    "event",
    "occurrence",
    "form",
    "item",
    "row",
    "kind",
    "state",
    "resolution",
    "days_open",
    "raised_by",
    "text",
    "value",
]


class Command(BaseCommand):
    help = "Read a study's queries (arm-revealing values are masked)."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        listing = actions.add_parser(
            "list", help="Write the study's queries as CSV, the oldest first."
        )
        listing.add_argument("study", metavar="STUDY", help="The study's identifier.")
        listing.add_argument(
            "--state",
            default="active",
            help="open, answered, closed, cancelled, active (open or answered: the default) "
            "or all.",
        )
        listing.add_argument("--site", default="", help="A site's code (default: every site).")
        listing.add_argument("--kind", default="", help="automatic or manual (default: both).")

    def handle(self, *args: Any, **options: Any) -> None:
        study = Study.objects.filter(identifier=options["study"]).first()
        if study is None:
            raise CommandError(f"No study {options['study']}.")
        state = "" if options["state"] == "all" else options["state"]
        rows = queries_for_server(
            study=study,
            filters=QueryFilters(site=options["site"], state=state, kind=options["kind"]),
        )
        writer = csv.writer(self.stdout)
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow([row[name] for name in COLUMNS])
