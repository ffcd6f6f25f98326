"""The demo's accounts, centres and site staff, and the password they share."""

from __future__ import annotations

import functools
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import transaction

from carnet.accounts.models import Membership, StudySite, User
from carnet.accounts.roles import Role
from carnet.accounts.services import (
    role_grant,
    user_create,
    user_set_password,
)
from carnet.audit.services import SystemActor
from carnet.studies.models import Study

ADMIN_USERNAME = "admin"


PASSWORD_FILE = "demo-password"  # noqa: S105 (a file name, not a secret)


@dataclass(frozen=True)
class DemoAccount:
    username: str
    password: str
    created: bool


def _password_file() -> Path:
    return Path(settings.DATA_DIR) / PASSWORD_FILE


def demo_password(requested: str | None) -> str:
    """Return the demo password: the one asked for, the one kept in the data directory, or new."""
    if requested:
        return requested
    kept = _password_file()
    if kept.exists():
        return kept.read_text(encoding="utf-8").strip()
    # Long enough for the password rules, readable enough to type.
    return "-".join(secrets.token_hex(3) for _ in range(4))


@functools.cache
def demo_password_hash(password: str) -> str:
    """Return the demo password's hash, made once per process: the demo accounts share one
    password, printed on the screen and kept in the data directory, so sharing its hash (and
    salt) tells nobody anything more; twenty Argon2 hashes took two seconds of `make run`."""
    return make_password(password)


def demo_account_create(
    *,
    actor: SystemActor,
    username: str,
    full_name: str,
    password: str,
    is_administrator: bool = False,
) -> User:
    """Create a demo account with the demo password (and its one hash)."""
    return user_create(
        actor=actor,
        username=username,
        password=password,
        password_hash=demo_password_hash(password),
        full_name=full_name,
        is_administrator=is_administrator,
    )


# Each demo account is named after its role. Site roles and the monitor work at sites; central
# roles cover every site, as they do in a data centre.
DEMO_ACCOUNTS: tuple[tuple[str, str, str, tuple[int, ...]], ...] = (
    # user name, full name, role, site numbers (empty: all sites)
    ("investigator", "Dr Claire Martin", Role.INVESTIGATOR, (1,)),
    ("dataentry", "Julie Bernard (TEC)", Role.DATA_ENTRY, (1,)),
    ("pharmacist", "Marc Petit (PUI)", Role.PHARMACIST, (1,)),
    ("monitor", "Sophie Laurent (ARC)", Role.MONITOR, (1, 2)),
    ("datamanager", "Thomas Moreau", Role.DATA_MANAGER, ()),
    ("projectmanager", "Camille Roux", Role.PROJECT_MANAGER, ()),
    ("medicalreviewer", "Dr Paul Fournier", Role.MEDICAL_REVIEWER, ()),
    ("coder", "Léa Girard", Role.CODER, ()),
    ("statistician", "Hugo Bonnet", Role.STATISTICIAN, ()),
    ("unblinded", "Emma Dupuis", Role.UNBLINDED_STATISTICIAN, ()),
    ("dsmb", "Pr Anne Lambert", Role.DSMB_STATISTICIAN, ()),
    ("pharmacovigilance", "Nicolas Faure", Role.PHARMACOVIGILANCE, ()),
    ("biobank", "Inès Mercier", Role.BIOBANK_TECHNICIAN, ()),
    ("sponsor", "Promoteur (lecture)", Role.SPONSOR, ()),
    # Read-only, on MAINTAIN-CRC only and for an inspection period (`DEMO_INSPECTION`).
    ("inspector", "Marie Leroy (ANSM)", Role.INSPECTOR, ()),
    (ADMIN_USERNAME, "Demo administrator", Role.ADMINISTRATOR, ()),
)


# Roles a demo account holds besides its own: Dr Claire Martin, investigator at ICM, is the
# coordinating investigator of each demo study (she signs its database lock as such).
DEMO_EXTRA_ROLES: tuple[tuple[str, str, tuple[int, ...]], ...] = (
    ("investigator", Role.COORDINATING_INVESTIGATOR, ()),
)


def demo_roles() -> Iterator[tuple[str, str, tuple[int, ...]]]:
    """Yield every role the demo gives: (user name, role, site numbers; empty: all sites)."""
    for username, _full_name, role, site_numbers in DEMO_ACCOUNTS:
        yield username, role, site_numbers
    yield from DEMO_EXTRA_ROLES


DEMO_CENTRES = (
    ("ICM", "Institut du Cancer de Montpellier", "Montpellier", date(2025, 1, 15)),
    ("IPC", "Institut Paoli-Calmettes", "Marseille", date(2025, 2, 3)),
    ("CLB", "Centre Léon Bérard", "Lyon", date(2025, 3, 10)),
)


DEMO_ROLES_FROM = date(2025, 1, 1)


# The inspector's grant: one study, for an inspection period, as `carnet role grant … inspector
# --from … --to …` gives it. The period runs from the study's start to this many days after the
# demo is loaded, so the audit-trail guide (docs/guide/inspector.md) works out of the box.
DEMO_INSPECTION = ("MAINTAIN-CRC", 365)


# Site data entry at the two other demo centres, so that each demo patient is entered by staff of
# the site treating them. Apart from DEMO_ACCOUNTS: `demo_load` keeps one account per role.
DEMO_SITE_STAFF: tuple[tuple[str, str, int], ...] = (
    # user name, full name, site number
    ("dataentry2", "Nadia Benali (TEC, IPC)", 2),
    ("dataentry3", "Lucas Perrin (TEC, CLB)", 3),
)


@transaction.atomic
def demo_load(*, actor: SystemActor, password: str | None = None) -> list[DemoAccount]:
    """Create the demo accounts that do not exist yet; set their password when one is given."""
    chosen = demo_password(password)
    accounts = []
    for username, full_name, role, _sites in DEMO_ACCOUNTS:
        user = User.objects.filter(username=username).first()
        if user is None:
            demo_account_create(
                actor=actor,
                username=username,
                full_name=full_name,
                password=chosen,
                is_administrator=role == Role.ADMINISTRATOR,
            )
            accounts.append(DemoAccount(username, chosen, created=True))
        else:
            if password or not user.check_password(chosen):
                user_set_password(actor=actor, user=user, password=chosen)
            accounts.append(DemoAccount(username, chosen, created=False))
    # Kept so that `make run` can tell the same password every time; demo data only.
    kept = _password_file()
    kept.write_text(chosen + "\n", encoding="utf-8")
    kept.chmod(0o600)
    return accounts


@transaction.atomic
def demo_site_staff_load(*, actor: SystemActor, studies: list[Study]) -> list[DemoAccount]:
    """Create the data-entry accounts of sites 02 and 03 with the demo password, with their
    roles on the demo studies given (loaded with their sites); a second run changes nothing."""
    chosen = demo_password(None)
    accounts = []
    for username, full_name, site_number in DEMO_SITE_STAFF:
        user = User.objects.filter(username=username).first()
        created = user is None
        if user is None:
            user = demo_account_create(
                actor=actor, username=username, full_name=full_name, password=chosen
            )
        accounts.append(DemoAccount(username, chosen, created=created))
        for study in studies:
            site = StudySite.objects.get(study=study, code=f"{site_number:02d}")
            if not Membership.objects.filter(
                user=user, study=study, site=site, role=Role.DATA_ENTRY
            ).exists():
                role_grant(
                    actor=actor,
                    user=user,
                    study=study,
                    site=site,
                    role=Role.DATA_ENTRY,
                    starts_on=DEMO_ROLES_FROM,
                )
    return accounts
