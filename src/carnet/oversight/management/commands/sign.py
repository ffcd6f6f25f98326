"""`carnet sign STUDY SUBJECT [--visit V] [--form F] --meaning M`: the investigator signs a
casebook, a visit or a form with their e-signature (their password from standard input or the
terminal), as on the page."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from carnet.accounts.services import user_get
from carnet.core.errors import CarnetError
from carnet.oversight.selectors import command_place, study_by_identifier
from carnet.oversight.services import Place, data_sign


class Command(BaseCommand):
    help = "Sign a subject's casebook, a visit or a form with the investigator's e-signature."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("study", metavar="STUDY")
        parser.add_argument("subject", metavar="SUBJECT", help="The subject's identifier.")
        parser.add_argument("--visit", default="", help="A visit's event (else the casebook).")
        parser.add_argument("--occurrence", type=int, default=1, help="The visit's occurrence.")
        parser.add_argument("--form", default="", help="With --visit: one form of the visit.")
        parser.add_argument("--repeat", type=int, default=1, help="The form's repeat (1).")
        parser.add_argument(
            "--meaning", required=True, help="The meaning of the signature, from the study's list."
        )
        parser.add_argument(
            "--signer", required=True, help="The user name of the investigator who signs."
        )
        parser.add_argument(
            "--password-stdin",
            action="store_true",
            help="Read the signer's password from standard input (else it is asked for).",
        )
        parser.add_argument(
            "--totp-code", default="", help="The authenticator code, when enrolled."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["form"] and not options["visit"]:
            raise CommandError("Give --visit with --form.")
        try:
            study = study_by_identifier(options["study"])
            scope, site, subject = command_place(
                study,
                subject=options["subject"],
                event=options["visit"],
                occurrence=options["occurrence"],
                form=options["form"],
                repeat=options["repeat"],
            )
            signer = user_get(options["signer"])
            signed = data_sign(
                actor=signer,
                place=Place(
                    scope=scope,
                    site=site,
                    subject=subject,
                    event=options["visit"],
                    occurrence=options["occurrence"],
                    form=options["form"],
                    repeat=options["repeat"],
                ),
                password=self._password(options),
                totp_code=options["totp_code"],
                meaning=options["meaning"],
            )
        except CarnetError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"Signed {signed.place()} by {signed.signer_name}: {signed.meaning}")

    def _password(self, options: dict[str, Any]) -> str:
        if options["password_stdin"]:
            return sys.stdin.readline().rstrip("\n")
        if not sys.stdin.isatty():
            raise CommandError("Give --password-stdin when not at a terminal.")
        return getpass.getpass(f"Password of {options['signer']} (e-signature): ")
