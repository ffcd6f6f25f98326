"""`carnet queries list STUDY`: a study's queries as CSV on the standard output;
`carnet queries settings STUDY [--set name=value ...] --reason WHY`: read or change the study's
query options (each change an audit event with its reason)."""

from __future__ import annotations

import argparse
import csv
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from carnet.audit.services import SystemActor
from carnet.core.errors import CarnetError
from carnet.quality.selectors import QueryFilters, queries_for_server, query_settings
from carnet.quality.services import QUERY_SETTING_NAMES, query_settings_parse, query_settings_set
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
        settings = actions.add_parser(
            "settings",
            help="Show the study's query options; with --set, change them (audited).",
        )
        settings.add_argument("study", metavar="STUDY", help="The study's identifier.")
        settings.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            dest="pairs",
            help=f"An option to change, on or off ({', '.join(QUERY_SETTING_NAMES)}); "
            "repeat for several.",
        )
        settings.add_argument("--reason", default="", help="Why; kept in the audit trail.")

    def handle(self, *args: Any, **options: Any) -> None:
        study = Study.objects.filter(identifier=options["study"]).first()
        if study is None:
            raise CommandError(f"No study {options['study']}.")
        if options["action"] == "settings":
            self._settings(study, options["pairs"], options["reason"])
            return
        state = "" if options["state"] == "all" else options["state"]
        rows = queries_for_server(
            study=study,
            filters=QueryFilters(site=options["site"], state=state, kind=options["kind"]),
        )
        writer = csv.writer(self.stdout)
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow([row[name] for name in COLUMNS])

    def _settings(self, study: Study, pairs: list[str], reason: str) -> None:
        """Change the options named (when any), then print every option as name = on/off."""
        found = query_settings(study=study)
        if pairs:
            try:
                found = query_settings_set(
                    actor=SystemActor.command_line("carnet queries settings"),
                    study=study,
                    reason=reason,
                    **query_settings_parse(pairs),
                )
            except CarnetError as error:
                raise CommandError(str(error)) from error
        for name in QUERY_SETTING_NAMES:
            self.stdout.write(f"{name} = {'on' if getattr(found, name) else 'off'}")
