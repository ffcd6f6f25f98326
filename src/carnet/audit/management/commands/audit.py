"""`carnet audit verify|anchor|log`: check and read the audit trail."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from carnet.audit.models import SYSTEM_CHAIN, AuditEvent
from carnet.audit.replay import data_replay, trail_write
from carnet.audit.services import study_chain
from carnet.audit.verification import anchor_line, anchors_read, audit_verify, chain_heads
from carnet.core.errors import CarnetError


class Command(BaseCommand):
    help = "Verify the audit hash chains, write their heads down, or read the trail."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        verify = actions.add_parser(
            "verify",
            help="Recompute every chain (or one study's) and name the first broken event.",
        )
        verify.add_argument("--study", help="Verify only this study's chain.")
        verify.add_argument("--system", action="store_true", help="Verify only the system chain.")
        verify.add_argument(
            "--anchors",
            type=Path,
            help="A file written by `carnet audit anchor`: each head in it must still be there.",
        )
        verify.add_argument(
            "--data",
            metavar="STUDY",
            help="Also rebuild every current value of this study from its trail and name each "
            "value the data tables hold differently (a direct SQL edit).",
        )
        anchor = actions.add_parser(
            "anchor",
            help="Print the head of every chain as JSON lines, to keep outside the database.",
        )
        anchor.add_argument("--output", type=Path, help="Append to this file instead of printing.")
        log = actions.add_parser("log", help="Print the latest events of a chain.")
        log.add_argument("--study", help="A study's chain (default: the system chain).")
        log.add_argument("--limit", type=int, default=20, help="How many events (default 20).")
        trail = actions.add_parser(
            "trail",
            help="Write a study's audit trail, filtered, as CSV (or PDF by the file's extension).",
        )
        trail.add_argument("study", help="The study's identifier.")
        for name, what in (
            ("subject", "a subject's identifier"),
            ("form", "a form's name"),
            ("item", "an item's name"),
            ("user", "part of the user's name"),
            ("action", "an action (item.changed) or its start (data.)"),
            ("since", "from this day (YYYY-MM-DD)"),
            ("until", "up to this day included (YYYY-MM-DD)"),
        ):
            # Stored under "only_…": "action" is the name of the subcommand chosen.
            trail.add_argument(
                f"--{name}", dest=f"only_{name}", default="", help=f"Only events of {what}."
            )
        trail.add_argument(
            "--unblinded",
            action="store_true",
            help="Show arm-revealing values (masked by default, as for a blinded person).",
        )
        trail.add_argument("--output", type=Path, required=True, help="The .csv or .pdf file.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, f"_{options['action']}")(options)
        except CarnetError as error:
            raise CommandError(str(error)) from error

    def _chain(self, options: dict[str, Any]) -> str | None:
        if options.get("study"):
            return study_chain(options["study"])
        if options.get("system"):
            return SYSTEM_CHAIN
        return None

    def _verify(self, options: dict[str, Any]) -> None:
        anchors = anchors_read(options["anchors"]) if options["anchors"] else []
        report = audit_verify(chain=self._chain(options), anchors=anchors)
        if not report.chains:
            self.stdout.write("No audit events yet.")
            return
        for line in report.lines():
            self.stdout.write(line)
        if not report.intact:
            broken = sum(not chain.intact for chain in report.chains)
            raise CommandError(f"{broken} of {len(report.chains)} audit chains are broken.")
        self.stdout.write(f"All {len(report.chains)} audit chains are intact.")
        if options.get("data"):
            self._data(options["data"])

    def _data(self, study: str) -> None:
        differences = data_replay(study)
        for line in differences:
            self.stdout.write(line)
        if differences:
            raise CommandError(
                f"{len(differences)} values of {study} differ from what its audit trail records."
            )
        self.stdout.write(f"Every value of {study} is the one its audit trail records.")

    def _trail(self, options: dict[str, Any]) -> None:
        filters = {
            name: options[f"only_{name}"]
            for name in ("subject", "form", "item", "user", "action", "since", "until")
            if options[f"only_{name}"]
        }
        count = trail_write(
            study=options["study"],
            filters=filters,
            output=options["output"],
            unblinded=options["unblinded"],
        )
        self.stdout.write(f"{count} audit events written to {options['output']}.")

    def _anchor(self, options: dict[str, Any]) -> None:
        lines = [anchor_line(anchor) for anchor in chain_heads()]
        if options["output"]:
            with options["output"].open("a", encoding="utf-8") as handle:
                handle.writelines(line + "\n" for line in lines)
            self.stdout.write(f"{len(lines)} chain heads appended to {options['output']}.")
        else:
            sys.stdout.writelines(line + "\n" for line in lines)

    def _log(self, options: dict[str, Any]) -> None:
        chain = self._chain(options) or SYSTEM_CHAIN
        events = AuditEvent.objects.filter(chain=chain).order_by("-seq")[: options["limit"]]
        for event in reversed(list(events)):
            target = f" {event.target_type}:{event.target_id}" if event.target_type else ""
            reason = f" — {event.reason}" if event.reason else ""
            self.stdout.write(
                f"#{event.seq} {event.occurred_at:%Y-%m-%d %H:%M:%S}Z {event.actor_label}: "
                f"{event.action}{target} {event.old!r} -> {event.new!r}{reason}"
            )
