"""`carnet biobank ACTION STUDY …`: the biobank from the server. Each part of the biobank adds
its actions here (the exchange's: carnet.biobank.cli_exchange); writes are audited as the
command line."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from carnet.biobank.cli_exchange import EXCHANGE_ACTIONS, add_exchange_actions, handle_exchange
from carnet.core.errors import CarnetError


class Command(BaseCommand):
    help = "The biobank: shipments, MTAs, sample requests, consent withdrawals, LIMS exchange."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        add_exchange_actions(actions)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["action"] in EXCHANGE_ACTIONS:
                handle_exchange(options, self.stdout.write)
        except CarnetError as error:
            raise CommandError(str(error)) from error
