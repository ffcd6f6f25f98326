"""`carnet pharmacy assign|dispense|return|destroy|accountability|resupply STUDY`: kit
assignment, dispensing, returns, destruction, accountability and resupply from the server (writes
audited as the command line). The stock's actions (batches, kits, shipments, excursions) join
these in the same command."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from carnet.core.errors import CarnetError
from carnet.pharmacy.cli_dispensing import add_dispensing_actions, run_dispensing_action


class Command(BaseCommand):
    help = "Assign, dispense, take back and destroy kits; print accountability; propose resupply."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        add_dispensing_actions(actions)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            run_dispensing_action(options["action"], options, self.stdout)
        except CarnetError as error:
            raise CommandError(str(error)) from error
