"""`carnet restore FILE`: put a backup back, then verify the audit chains."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from carnet.audit.services import SystemActor
from carnet.core.errors import CarnetError
from carnet.operations.backups import backup_read, backup_restore


class Command(BaseCommand):
    help = (
        "Replace the database with a backup written by `carnet backup`, then verify every audit "
        "chain against the heads recorded in the backup's manifest. Stop the server first."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "file", type=Path, help="The backup file (its .json manifest beside it)."
        )
        parser.add_argument("--yes", action="store_true", help="Do not ask for confirmation.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            backup = backup_read(options["file"])
            if not options["yes"]:
                answer = input(
                    f"Replace the current database with {backup.path.name}? Type 'restore': "
                )
                if answer.strip() != "restore":
                    raise CommandError("Restore cancelled; nothing was changed.")
            report = backup_restore(
                actor=SystemActor.command_line("carnet restore"), source=backup.path
            )
        except CarnetError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"Restored {backup.path.name}.")
        for line in report.lines():
            self.stdout.write(line)
        if not report.intact:
            raise CommandError("The restored audit chains are broken; do not use this database.")
        self.stdout.write(
            f"All {len(report.chains)} audit chains are intact. Run `carnet migrate` if this "
            "backup comes from an older Carnet."
        )
