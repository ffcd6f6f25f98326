"""`carnet lab ranges load|show`: a study's laboratory normal ranges and item mapping."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from carnet.audit.services import SystemActor
from carnet.core.errors import CarnetError
from carnet.laboratory.selectors import lab_items, normal_ranges
from carnet.laboratory.services import lab_file_load
from carnet.studies.models import Study


class Command(BaseCommand):
    help = "Load or show a study's laboratory normal ranges and the mapping of its items."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parts = parser.add_subparsers(dest="part", required=True, metavar="PART")
        ranges = parts.add_parser("ranges", help="The study's laboratory normal ranges.")
        actions = ranges.add_subparsers(dest="action", required=True, metavar="ACTION")
        load = actions.add_parser(
            "load",
            help="Replace the study's ranges (CSV or YAML; YAML also maps items to analytes) "
            "with the file's: all of it or nothing.",
        )
        load.add_argument("study", metavar="STUDY")
        load.add_argument("file", metavar="FILE", type=Path)
        show = actions.add_parser("show", help="Print the study's ranges and item mapping.")
        show.add_argument("study", metavar="STUDY")

    def handle(self, *args: Any, **options: Any) -> None:
        study = Study.objects.filter(identifier=options["study"]).first()
        if study is None:
            raise CommandError(_("No study %(study)s.") % {"study": options["study"]})
        if options["action"] == "show":
            self._show(study)
            return
        path: Path = options["file"]
        try:
            content = path.read_bytes()
        except OSError as error:
            raise CommandError(
                _("Cannot read %(file)s: %(error)s") % {"file": path, "error": error.strerror}
            ) from error
        try:
            loaded = lab_file_load(
                actor=SystemActor.command_line("carnet lab ranges"),
                study=study,
                content=content,
                file_name=path.name,
            )
        except CarnetError as error:
            raise CommandError(str(error)) from error
        if loaded.unchanged:
            self.stdout.write(
                _("%(study)s: this file is the one in force; nothing changed.")
                % {"study": study.identifier}
            )
            return
        self.stdout.write(
            _(
                "%(study)s: %(ranges)s normal ranges loaded (%(removed)s replaced), %(items)s "
                "items mapped; file SHA-256 %(sha256)s."
            )
            % {
                "study": study.identifier,
                "ranges": loaded.ranges,
                "removed": loaded.removed_ranges,
                "items": loaded.items,
                "sha256": loaded.sha256,
            }
        )

    def _show(self, study: Study) -> None:
        for item in lab_items(study):
            unit = item.unit or f"[{item.unit_item}]"
            limits = " ".join(
                f"{name}={value}"
                for name, value in (("uln", item.uln_item), ("lln", item.lln_item))
                if value
            )
            self.stdout.write(f"item {item.item} → {item.analyte} ({unit}) {limits}".rstrip())
        for row in normal_ranges(study):
            ages = f"{row.age_min if row.age_min is not None else ''}-{row.age_max or ''}"
            self.stdout.write(
                "\t".join(
                    [
                        row.site.code if row.site else "*",
                        row.analyte,
                        row.sex or "*",
                        ages,
                        row.effective_from.isoformat(),
                        row.effective_to.isoformat() if row.effective_to else "",
                        "" if row.low is None else format(row.low.normalize(), "f"),
                        "" if row.high is None else format(row.high.normalize(), "f"),
                        row.unit,
                    ]
                )
            )
