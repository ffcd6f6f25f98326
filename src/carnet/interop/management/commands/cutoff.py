"""`carnet cutoff create|list`: name a study's data cut-off (a point of its audit chain)."""

from __future__ import annotations

import argparse
from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from carnet.audit.services import SystemActor
from carnet.core.errors import CarnetError
from carnet.interop.selectors import cutoffs_of
from carnet.interop.services import cutoff_create
from carnet.studies.models import Study


class Command(BaseCommand):
    help = "Name a study's data cut-off, or list its cut-offs. Exports are made from one."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        create = actions.add_parser(
            "create", help="Cut off the study's data as they stand now (its audit chain head)."
        )
        create.add_argument("study", metavar="STUDY")
        create.add_argument("name", metavar="NAME", help="e.g. DSMB-1, FINAL")
        create.add_argument("--reason", required=True, help="Why: the analysis it is for.")
        create.add_argument(
            "--date",
            type=date.fromisoformat,
            metavar="YYYY-MM-DD",
            help="The cut-off date the protocol names (default: today).",
        )
        listed = actions.add_parser("list", help="List the study's cut-offs.")
        listed.add_argument("study", metavar="STUDY")

    def handle(self, *args: Any, **options: Any) -> None:
        study = Study.objects.filter(identifier=options["study"]).first()
        if study is None:
            raise CommandError(_("No study %(study)s.") % {"study": options["study"]})
        actor = SystemActor.command_line(f"carnet cutoff {options['action']}")
        if options["action"] == "list":
            for cutoff in cutoffs_of(actor, study=study):
                self.stdout.write(
                    f"{cutoff.name}\t{cutoff.cut_on.isoformat()}\t#{cutoff.seq}\t"
                    f"{cutoff.head_hash}\t{cutoff.reason}"
                )
            return
        try:
            cutoff = cutoff_create(
                actor=actor,
                study=study,
                name=options["name"],
                reason=options["reason"],
                cut_on=options["date"],
            )
        except CarnetError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            _("Cut-off %(name)s of %(study)s: audit event #%(seq)s, hash %(hash)s.")
            % {
                "name": cutoff.name,
                "study": study.identifier,
                "seq": cutoff.seq,
                "hash": cutoff.head_hash,
            }
        )
