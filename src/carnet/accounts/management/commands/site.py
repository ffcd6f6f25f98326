"""`carnet site add|activate|list`: centres taking part in a study."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from carnet.accounts.management.commands._parsing import iso_date
from carnet.accounts.models import StudySite
from carnet.accounts.services import centre_get, site_activate, site_add, site_get
from carnet.audit.services import SystemActor
from carnet.core.errors import CarnetError
from carnet.studies.selectors import study_get


class Command(BaseCommand):
    help = "Make centres sites of a study, activate them, list them."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        add = actions.add_parser("add", help="Make a centre a site of a study.")
        add.add_argument("study", help="The study identifier.")
        add.add_argument("centre", help="The centre code.")
        add.add_argument("--code", help="The site number in the study (default: next, 01, 02…).")
        activate = actions.add_parser(
            "activate", help="Set the date from which the site may include patients."
        )
        activate.add_argument("study", help="The study identifier.")
        activate.add_argument("site", help="The site number or centre code.")
        activate.add_argument("--date", type=iso_date, required=True, help="YYYY-MM-DD.")
        listing = actions.add_parser("list", help="List a study's sites.")
        listing.add_argument("study", help="The study identifier.")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = SystemActor.command_line(f"carnet site {options['action']}")
        try:
            study = study_get(options["study"])
            if options["action"] == "add":
                site = site_add(
                    actor=actor,
                    study=study,
                    centre=centre_get(options["centre"]),
                    code=options["code"],
                )
                self.stdout.write(
                    f"{site.centre.code} is site {site.code} of {study.identifier} "
                    "(not yet activated)."
                )
            elif options["action"] == "activate":
                site = site_activate(
                    actor=actor, site=site_get(study, options["site"]), on=options["date"]
                )
                self.stdout.write(
                    f"Site {site.code} of {study.identifier} is active from {site.activated_on}."
                )
            else:
                for site in (
                    StudySite.objects.filter(study=study).select_related("centre").order_by("code")
                ):
                    active = (
                        f"active from {site.activated_on}" if site.activated_on else "not activated"
                    )
                    self.stdout.write(
                        f"{site.code}  {site.centre.code}  {site.centre.name}  {active}"
                    )
        except CarnetError as error:
            raise CommandError(str(error)) from error
