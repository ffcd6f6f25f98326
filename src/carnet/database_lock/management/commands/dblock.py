"""`carnet dblock checklist|waive|list|sign|unlock|unblind|archive STUDY`: the database lock
from the server.

The checklist and the waivers are the data manager's (a waiver from the command line is
audited as the command line); a signature and an unlock are a person's signed act: the signer
is named and gives their password (standard input or the terminal), and so is the study's
unblinding after the lock. `archive` copies a lock's snapshot out, checked against its hash."""

from __future__ import annotations

import argparse
import getpass
import shutil
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from carnet.accounts.services import user_get
from carnet.accounts.signatures import DEFAULT_MEANINGS
from carnet.audit.services import SystemActor
from carnet.core.errors import CarnetError
from carnet.database_lock import selectors, services
from carnet.randomization.study_unblinding import STUDY_UNBLINDING_MEANING

LOCK_MEANING = DEFAULT_MEANINGS[3]  # "I authorise this database lock."


def _signer_arguments(parser: argparse.ArgumentParser, meaning: str = LOCK_MEANING) -> None:
    parser.add_argument("study", metavar="STUDY")
    parser.add_argument("--signer", required=True, help="The user name of the person who signs.")
    parser.add_argument(
        "--password-stdin",
        action="store_true",
        help="Read the signer's password from standard input (else it is asked for).",
    )
    parser.add_argument("--totp-code", default="", help="The authenticator code, when enrolled.")
    parser.add_argument(
        "--meaning",
        default=meaning,
        help="The meaning of the signature, from the study's list (default: %(default)s).",
    )


class Command(BaseCommand):
    help = "The database lock: its checklist, waivers, signatures in turn and the signed unlock."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        checklist = actions.add_parser("checklist", help="Print the checklist as it stands.")
        checklist.add_argument("study", metavar="STUDY")
        listing = actions.add_parser("list", help="Print the study's database locks.")
        listing.add_argument("study", metavar="STUDY")
        waive = actions.add_parser("waive", help="Waive an item of the checklist, with a reason.")
        waive.add_argument("study", metavar="STUDY")
        waive.add_argument("item", metavar="ITEM", help="The item's key (see `checklist`).")
        waive.add_argument("--reason", required=True, help="Why; kept in the audit trail.")
        _signer_arguments(
            actions.add_parser("sign", help="Sign the database lock at the next step.")
        )
        unlock = actions.add_parser("unlock", help="Lift the database lock, signed, with a reason.")
        _signer_arguments(unlock)
        unlock.add_argument("--reason", required=True, help="Why; kept in the audit trail.")
        unblind = actions.add_parser(
            "unblind", help="Unblind the whole study once its database is locked, signed."
        )
        _signer_arguments(unblind, STUDY_UNBLINDING_MEANING)
        unblind.add_argument("--reason", required=True, help="Why; kept in the audit trail.")
        archive = actions.add_parser(
            "archive", help="Copy a lock's archived snapshot out, checked against its SHA-256."
        )
        archive.add_argument("study", metavar="STUDY")
        archive.add_argument(
            "--lock", type=int, default=None, help="The lock's number (default: the latest)."
        )
        archive.add_argument("--output", required=True, help="Where to write the zip.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, f"_{options['action']}")(options)
        except CarnetError as error:
            raise CommandError(str(error)) from error

    def _password(self, options: dict[str, Any]) -> str:
        if options["password_stdin"]:
            return sys.stdin.readline().rstrip("\n")
        if not sys.stdin.isatty():
            raise CommandError("Give --password-stdin when not at a terminal.")
        return getpass.getpass(f"Password of {options['signer']} (e-signature): ")

    def _checklist(self, options: dict[str, Any]) -> None:
        study = selectors.study_by_identifier(options["study"])
        for state in selectors.checklist_state(study):
            status = "clear" if state.clear else "waived" if state.waived else "OPEN"
            line = f"{state.key:<24} {state.count:>6}  {status:<7} {state.label}"
            if state.waived and state.waiver is not None:
                line += f" (waived by {state.waiver.waived_by}: {state.waiver.reason})"
            self.stdout.write(line)

    def _list(self, options: dict[str, Any]) -> None:
        study = selectors.study_by_identifier(options["study"])
        locks = selectors.locks_of(study)
        if not locks:
            self.stdout.write(f"{study.identifier} has no database lock.")
        for lock in locks:
            summary = services.lock_summary(lock)
            self.stdout.write(f"{lock.name} {lock.status}")
            for signature in summary["signatures"]:
                signer = signature["signer"] or "-"
                self.stdout.write(f"  {signature['step']:<26} {signer}")
            if lock.archive_sha256:
                self.stdout.write(
                    f"  cut-off {summary['cutoff']} (audit event #{lock.audit_seq}, "
                    f"{lock.audit_head_hash}); archive SHA-256 {lock.archive_sha256}"
                )
            if lock.unlocked_at:
                self.stdout.write(f"  unlocked by {lock.unlocked_by}: {lock.unlock_reason}")

    def _waive(self, options: dict[str, Any]) -> None:
        study = selectors.study_by_identifier(options["study"])
        waiver = services.checklist_waive(
            actor=SystemActor.command_line("carnet dblock waive"),
            study=study,
            item=options["item"],
            reason=options["reason"],
        )
        self.stdout.write(f"Waived {waiver.item} ({waiver.count}).")

    def _sign(self, options: dict[str, Any]) -> None:
        study = selectors.study_by_identifier(options["study"])
        signer = user_get(options["signer"])
        lock = services.database_lock_sign(
            actor=signer,
            study=study,
            password=self._password(options),
            totp_code=options["totp_code"],
            meaning=options["meaning"],
        )
        self.stdout.write(f"{lock.name} of {study.identifier}: {lock.status}.")

    def _unlock(self, options: dict[str, Any]) -> None:
        study = selectors.study_by_identifier(options["study"])
        signer = user_get(options["signer"])
        lock = services.database_lock_unlock(
            actor=signer,
            study=study,
            reason=options["reason"],
            password=self._password(options),
            totp_code=options["totp_code"],
            meaning=options["meaning"],
        )
        self.stdout.write(f"{lock.name} of {study.identifier} is lifted.")

    def _unblind(self, options: dict[str, Any]) -> None:
        study = selectors.study_by_identifier(options["study"])
        signer = user_get(options["signer"])
        unblinding = services.database_lock_unblind(
            actor=signer,
            study=study,
            reason=options["reason"],
            password=self._password(options),
            totp_code=options["totp_code"],
            meaning=options["meaning"],
        )
        self.stdout.write(f"{study.identifier} is unblinded (after {unblinding.basis}).")

    def _archive(self, options: dict[str, Any]) -> None:
        study = selectors.study_by_identifier(options["study"])
        locks = [lock for lock in selectors.locks_of(study) if lock.archive_name]
        if options["lock"] is not None:
            locks = [lock for lock in locks if lock.number == options["lock"]]
        if not locks:
            raise CommandError(f"{study.identifier} has no archived snapshot of that lock.")
        lock = locks[0]  # latest first
        source = services.archive_path(lock)
        output = Path(options["output"])
        shutil.copyfile(source, output)
        self.stdout.write(f"{lock.name}: {output} SHA-256 {lock.archive_sha256} (checked).")
