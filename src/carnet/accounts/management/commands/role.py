"""`carnet role grant|revoke|list`: the delegation log of a study."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from carnet.accounts.management.commands._parsing import iso_date
from carnet.accounts.models import Membership
from carnet.accounts.roles import Role
from carnet.accounts.services import role_grant, role_revoke, site_get, user_get
from carnet.audit.services import SystemActor
from carnet.core.clock import utc_today
from carnet.core.errors import CarnetError
from carnet.studies.selectors import study_get


class Command(BaseCommand):
    help = "Grant and revoke roles on studies (the delegation log), and list it."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        grant = actions.add_parser("grant", help="Give a person a role on a study.")
        revoke = actions.add_parser("revoke", help="End a person's role on a study.")
        for sub in (grant, revoke):
            sub.add_argument("user", help="The account.")
            sub.add_argument("study", help="The study identifier.")
            sub.add_argument("site", help="A site number or centre code, or 'all'.")
            sub.add_argument(
                "role",
                choices=Role.values,
                metavar="ROLE",
                help=f"One of: {', '.join(Role.values)}.",
            )
        grant.add_argument(
            "--from", dest="starts_on", type=iso_date, help="First day (default today)."
        )
        grant.add_argument(
            "--to", dest="ends_on", type=iso_date, help="Last day (default open-ended)."
        )
        revoke.add_argument(
            "--on",
            type=iso_date,
            help="Last day of the role (default: it ends now, not at midnight).",
        )
        revoke.add_argument("--reason", default="", help="Why; kept in the audit trail.")
        listing = actions.add_parser("list", help="Print a study's delegation log.")
        listing.add_argument("study", help="The study identifier.")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        actor = SystemActor.command_line(f"carnet role {action}")
        try:
            study = study_get(options["study"])
            if action == "list":
                for m in (
                    Membership.objects.filter(study=study)
                    .select_related("user", "site")
                    .order_by("starts_on")
                ):
                    where = m.site.code if m.site else "all"
                    self.stdout.write(
                        f"{m.user.username}  {m.role}  site {where}  "
                        f"{m.starts_on} -> {m.ends_on or '…'}"
                    )
                return
            user = user_get(options["user"])
            site = None if options["site"] == "all" else site_get(study, options["site"])
            where = "all sites" if site is None else f"site {site.code}"
            if action == "grant":
                m = role_grant(
                    actor=actor,
                    user=user,
                    study=study,
                    site=site,
                    role=options["role"],
                    starts_on=options["starts_on"] or utc_today(),
                    ends_on=options["ends_on"],
                )
                self.stdout.write(
                    f"{user.username} is {m.role} on {study.identifier} ({where}) "
                    f"from {m.starts_on}" + (f" to {m.ends_on}." if m.ends_on else ".")
                )
            else:
                m = role_revoke(
                    actor=actor,
                    user=user,
                    study=study,
                    site=site,
                    role=options["role"],
                    on=options["on"],
                    reason=options["reason"],
                )
                when = "ended now" if m.ended_at else f"ends on {m.ends_on}"
                self.stdout.write(
                    f"{user.username}'s {m.role} role on {study.identifier} ({where}) {when}."
                )
        except CarnetError as error:
            raise CommandError(str(error)) from error
