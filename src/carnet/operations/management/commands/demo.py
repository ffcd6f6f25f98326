"""`carnet demo`: load the demo installation (idempotent) and say how to log in."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from carnet.audit.services import SystemActor
from carnet.core.errors import CarnetError
from carnet.operations.demo import demo_load, demo_studies_load


class Command(BaseCommand):
    help = (
        "Load the demo: the administrator account and the two demo studies (a randomised phase "
        "III in colorectal cancer, a Simon two-stage phase II). Running it again changes nothing."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--password",
            help="Password for the demo accounts (default: generated once and kept in the data "
            "directory).",
        )
        parser.add_argument(
            "--no-patients",
            action="store_true",
            help="Load the accounts and studies only, without the synthetic patients (quick).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            actor = SystemActor.command_line("carnet demo")
            accounts = demo_load(actor=actor, password=options["password"])
            studies = demo_studies_load(actor=actor)
        except CarnetError as error:
            raise CommandError(str(error)) from error
        for study in studies:
            self.stdout.write(
                f"Study {study.identifier}: version {study.version}, {study.mode} mode"
                + (" (already loaded)" if study.outcome == "unchanged" else "")
            )
        password = accounts[0].password
        names = ", ".join(account.username for account in accounts)
        self.stdout.write("Demo loaded. Log in at http://127.0.0.1:8000/ as one of:")
        self.stdout.write(f"  {names}")
        self.stdout.write(f"with the password {password!r} (kept in the data directory).")
