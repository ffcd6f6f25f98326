"""`carnet token create|revoke|list`: personal API tokens, one study each."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from carnet.accounts.models import ApiToken
from carnet.accounts.services import (
    token_create,
    token_revoke,
    token_waits_for_second_factor,
    user_get,
)
from carnet.audit.services import SystemActor
from carnet.core.errors import CarnetError, ValidationError
from carnet.studies.selectors import study_get


class Command(BaseCommand):
    help = "Create, revoke and list API tokens (32 hexadecimal characters, shown once)."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        create = actions.add_parser(
            "create", help="Create a token for a user on a study; print it once."
        )
        create.add_argument("user", help="The account.")
        create.add_argument("study", help="The study identifier.")
        create.add_argument("--label", default="", help="What the token is for.")
        revoke = actions.add_parser("revoke", help="Revoke a token by its first characters.")
        revoke.add_argument("prefix", help="The first 6 characters shown by `carnet token list`.")
        revoke.add_argument("--reason", default="", help="Why; kept in the audit trail.")
        listing = actions.add_parser("list", help="List tokens (never their value).")
        listing.add_argument("--user", help="Only this account's tokens.")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        actor = SystemActor.command_line(f"carnet token {action}")
        try:
            if action == "create":
                token, key = token_create(
                    actor=actor,
                    user=user_get(options["user"]),
                    study=study_get(options["study"]),
                    label=options["label"],
                )
                self.stdout.write(key)
                self.stderr.write(
                    f"Token {token.prefix}… for {token.user.username} on {token.study.identifier}: "
                    "copy it now, it is not shown again."
                )
                if token_waits_for_second_factor(token):
                    self.stderr.write(
                        f"{token.user.username} must use a second factor: the token works once "
                        f"{token.user.username} has enrolled a second factor (My account › "
                        "Second sign-in factor); until then the API answers 403."
                    )
            elif action == "revoke":
                matches = list(
                    ApiToken.objects.filter(
                        prefix=options["prefix"].upper(), revoked_at__isnull=True
                    )
                )
                if len(matches) != 1:
                    raise ValidationError(
                        f"{len(matches)} live tokens start with {options['prefix']!r}; "
                        "give a prefix that names exactly one."
                    )
                token = token_revoke(actor=actor, token=matches[0], reason=options["reason"])
                self.stdout.write(f"Token {token.prefix}… revoked.")
            else:
                tokens = ApiToken.objects.select_related("user", "study").order_by(
                    "user__username", "-created_at"
                )
                if options["user"]:
                    tokens = tokens.filter(user=user_get(options["user"]))
                for t in tokens:
                    state = f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else "live"
                    used = (
                        f"last used {t.last_used_at:%Y-%m-%d %H:%M}"
                        if t.last_used_at
                        else "never used"
                    )
                    self.stdout.write(
                        f"{t.prefix}…  {t.user.username}  {t.study.identifier}  "
                        f"{state}  {used}  {t.label}"
                    )
        except CarnetError as error:
            raise CommandError(str(error)) from error
