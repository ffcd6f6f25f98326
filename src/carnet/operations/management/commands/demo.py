"""`carnet demo`: load the demo installation (idempotent) and say how to log in."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from carnet.audit.services import SystemActor
from carnet.core.errors import CarnetError
from carnet.operations.demo import demo_load


class Command(BaseCommand):
    help = "Load the demo (accounts so far); running it again changes nothing."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--password",
            help="Password for the demo accounts (default: generated once and kept in the data "
            "directory).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            accounts = demo_load(
                actor=SystemActor.command_line("carnet demo"), password=options["password"]
            )
        except CarnetError as error:
            raise CommandError(str(error)) from error
        self.stdout.write("Demo loaded. Log in at http://127.0.0.1:8000/ with:")
        for account in accounts:
            self.stdout.write(f"  user {account.username!r}, password {account.password!r}")
