"""`carnet schedule rebuild`: plan the stored schedules of subjects again, in the audit trail."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from carnet.audit.services import SystemActor
from carnet.studies.models import Study
from carnet.subjects.services import study_schedules_rebuild


class Command(BaseCommand):
    help = "Plan again the stored schedules that the subject and overdue lists read."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        rebuild = actions.add_parser(
            "rebuild",
            help="Plan every subject's schedule again (after an upgrade, or daily from cron with "
            "--stale-only).",
        )
        rebuild.add_argument("studies", nargs="*", metavar="STUDY", help="Studies (default: all).")
        rebuild.add_argument(
            "--stale-only",
            action="store_true",
            help="Only the subjects planned with an older study version, or near the end of what "
            "was planned.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        studies = Study.objects.order_by("identifier")
        if options["studies"]:
            studies = studies.filter(identifier__in=options["studies"])
            unknown = set(options["studies"]) - set(studies.values_list("identifier", flat=True))
            if unknown:
                raise CommandError(f"No study {', '.join(sorted(unknown))}.")
        actor = SystemActor.command_line("carnet schedule rebuild")
        for study in studies:
            count = study_schedules_rebuild(
                actor=actor, study=study, stale_only=options["stale_only"]
            )
            self.stdout.write(f"{study.identifier}: {count} subject schedules planned.")
