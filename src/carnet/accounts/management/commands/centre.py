"""`carnet centre add|list`: the hospitals that take part in studies."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from carnet.accounts.models import Centre
from carnet.accounts.services import centre_add
from carnet.audit.services import SystemActor
from carnet.core.errors import CarnetError


class Command(BaseCommand):
    help = "Register centres (hospitals) and list them."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        add = actions.add_parser("add", help="Register a centre.")
        add.add_argument("code", help="Short code, e.g. ICM.")
        add.add_argument("--name", required=True, help="Full name of the centre.")
        add.add_argument("--city", default="", help="City.")
        add.add_argument(
            "--time-zone", default="Europe/Paris", help="IANA time zone (default Europe/Paris)."
        )
        actions.add_parser("list", help="List the centres.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "list":
            for centre in Centre.objects.order_by("code"):
                self.stdout.write(
                    f"{centre.code}  {centre.name}  {centre.city}  {centre.time_zone}"
                )
            return
        try:
            centre = centre_add(
                actor=SystemActor.command_line("carnet centre add"),
                code=options["code"],
                name=options["name"],
                city=options["city"],
                time_zone=options["time_zone"],
            )
        except CarnetError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"Centre {centre.code} added ({centre.name}, {centre.time_zone}).")
