"""`carnet backup`: a consistent copy of the database, taken while Carnet runs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from carnet.audit.services import SystemActor
from carnet.core.errors import CarnetError
from carnet.operations.backups import backup_create, backups_prune
from carnet.runtime_settings.services import system_setting_value


class Command(BaseCommand):
    help = (
        "Back up the database (SQLite online backup, or pg_dump) with a manifest of its SHA-256 "
        "and audit chain heads. Without --output, writes to the data directory's backups/ and "
        "keeps the newest `backup_keep` backups there."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--output", type=Path, help="Write the backup to this file.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            backup = backup_create(
                actor=SystemActor.command_line("carnet backup"), destination=options["output"]
            )
            removed = (
                [] if options["output"] else backups_prune(keep=system_setting_value("backup_keep"))
            )
        except CarnetError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"Backup written: {backup.path} ({backup.size} bytes)")
        self.stdout.write(f"SHA-256 {backup.sha256}; manifest {backup.manifest_path.name}")
        for path in removed:
            self.stdout.write(f"Removed old backup {path.name}")
