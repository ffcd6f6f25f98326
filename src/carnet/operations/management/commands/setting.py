"""`carnet setting list|set`: runtime settings, every change audited with its reason."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from carnet.audit.services import SystemActor
from carnet.core.errors import CarnetError
from carnet.runtime_settings.services import system_setting_change, system_settings_list


class Command(BaseCommand):
    help = "List or change runtime settings (each change is an audit event with its reason)."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        actions.add_parser("list", help="Show every setting, its value and what it does.")
        change = actions.add_parser("set", help="Change one setting.")
        change.add_argument("key", help="The setting, as `carnet setting list` names it.")
        change.add_argument("value", help="Its new value.")
        change.add_argument("--reason", required=True, help="Why; kept in the audit trail.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "list":
            for definition, value in system_settings_list():
                self.stdout.write(f"{definition.key} = {value!r}  # {definition.description}")
            return
        try:
            value = system_setting_change(
                actor=SystemActor.command_line("carnet setting set"),
                key=options["key"],
                value=options["value"],
                reason=options["reason"],
            )
        except CarnetError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"{options['key']} = {value!r}")
