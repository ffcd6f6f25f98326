"""`carnet user create|password|unlock|deactivate|list`: personal accounts (deactivated, never
deleted), each change through a service that records it in the audit trail."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from carnet.accounts.models import User
from carnet.accounts.services import user_create, user_deactivate, user_get, user_set_password
from carnet.accounts.sign_in import lockout_lift
from carnet.audit.services import SystemActor
from carnet.core.errors import CarnetError

STDIN_HELP = "Read the password from standard input (else it is asked for at the terminal)."


class Command(BaseCommand):
    help = "Create accounts, set their passwords, lift sign-in locks, deactivate and list them."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        create = actions.add_parser("create", help="Create a personal account.")
        create.add_argument("username", help="The user name used to sign in.")
        create.add_argument("--email", default="", help="E-mail address.")
        create.add_argument(
            "--full-name", default="", help="Name shown on signatures and in the trail."
        )
        create.add_argument(
            "--admin",
            "--administrator",
            dest="administrator",
            action="store_true",
            help="A system administrator.",
        )
        create.add_argument("--reason", default="", help="Why; kept in the audit trail.")
        secret = create.add_mutually_exclusive_group()
        secret.add_argument("--password-stdin", action="store_true", help=STDIN_HELP)
        secret.add_argument(
            "--no-password", action="store_true", help="No password yet (set one later)."
        )
        # A password is never an argument: it would stay in the shell's history and in `ps`.
        password = actions.add_parser(
            "password", help="Set a person's password (checked against the password rules)."
        )
        password.add_argument("username", help="The account.")
        password.add_argument("--password-stdin", action="store_true", help=STDIN_HELP)
        password.add_argument("--reason", default="", help="Why; kept in the audit trail.")
        unlock = actions.add_parser(
            "unlock", help="Lift the sign-in lock that repeated failed attempts put on a name."
        )
        unlock.add_argument("username", help="The user name that is locked.")
        unlock.add_argument("--reason", required=True, help="Why; kept in the audit trail.")
        deactivate = actions.add_parser(
            "deactivate", help="Deactivate an account; its tokens are revoked, its history kept."
        )
        deactivate.add_argument("username", help="The account.")
        deactivate.add_argument("--reason", required=True, help="Why; kept in the audit trail.")
        actions.add_parser("list", help="List accounts.")

    def _password(self, options: dict[str, Any]) -> str:
        if options["password_stdin"]:
            return sys.stdin.readline().rstrip("\n")
        if not sys.stdin.isatty():
            raise CommandError("Give --password-stdin or --no-password when not at a terminal.")
        first = getpass.getpass("Password: ")
        if first != getpass.getpass("Password again: "):
            raise CommandError("The two passwords differ; nothing was changed.")
        return first

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        actor = SystemActor.command_line(f"carnet user {action}")
        try:
            if action == "create":
                user = user_create(
                    actor=actor,
                    username=options["username"],
                    password=None if options["no_password"] else self._password(options),
                    email=options["email"],
                    full_name=options["full_name"],
                    is_administrator=options["administrator"],
                    reason=options["reason"],
                )
                self.stdout.write(f"Account {user.username} created.")
            elif action == "password":
                user = user_get(options["username"])
                user_set_password(
                    actor=actor,
                    user=user,
                    password=self._password(options),
                    reason=options["reason"],
                )
                self.stdout.write(f"Password of {user.username} changed.")
            elif action == "unlock":
                cleared = lockout_lift(
                    actor=actor, username=options["username"], reason=options["reason"]
                )
                self.stdout.write(
                    f"Sign-in lock on {options['username']} lifted ({cleared} failed attempts "
                    "cleared)."
                )
            elif action == "deactivate":
                user = user_deactivate(
                    actor=actor, user=user_get(options["username"]), reason=options["reason"]
                )
                self.stdout.write(f"Account {user.username} deactivated.")
            else:
                for user in User.objects.order_by("username"):
                    state = "active" if user.is_active else "deactivated"
                    admin = ", administrator" if user.is_superuser else ""
                    self.stdout.write(f"{user.username}  {user.full_name}  {state}{admin}")
        except CarnetError as error:
            raise CommandError(str(error)) from error
