"""The demo installation: what `carnet demo` loads, idempotently. Later issues extend it."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from django.conf import settings
from django.db import transaction

from carnet.accounts.models import Centre, Membership, StudySite, User
from carnet.accounts.roles import Role
from carnet.accounts.services import (
    centre_add,
    role_grant,
    site_activate,
    site_add,
    user_create,
    user_set_password,
)
from carnet.audit.services import SystemActor
from carnet.core.errors import ConfigurationError
from carnet.studies.definition import study_file_read
from carnet.studies.models import Study, StudyMode
from carnet.studies.services import study_load, study_mode_change, study_publish
from carnet.subjects.services import subject_settings, subject_settings_set

ADMIN_USERNAME = "admin"
PASSWORD_FILE = "demo-password"  # noqa: S105 (a file name, not a secret)
# The demo studies, in the order they are loaded.
DEMO_STUDY_FILES = ("maintain-crc.yaml", "simon-phase2.yaml")


def examples_dir() -> Path:
    """Return the folder of the demo studies: CARNET_EXAMPLES_DIR, or the clone's examples/."""
    configured = os.environ.get("CARNET_EXAMPLES_DIR")
    folder = (
        Path(configured)
        if configured
        else Path(__file__).resolve().parents[3] / "examples" / "studies"
    )
    if not all((folder / name).is_file() for name in DEMO_STUDY_FILES):
        raise ConfigurationError(
            f"The demo studies ({', '.join(DEMO_STUDY_FILES)}) are not in {folder}; set "
            "CARNET_EXAMPLES_DIR to the examples/studies folder of a Carnet clone."
        )
    return folder


@dataclass(frozen=True)
class DemoStudy:
    identifier: str
    version: int
    mode: str
    outcome: str


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
    (ADMIN_USERNAME, "Demo administrator", Role.ADMINISTRATOR, ()),
)
DEMO_CENTRES = (
    ("ICM", "Institut du Cancer de Montpellier", "Montpellier", date(2025, 1, 15)),
    ("IPC", "Institut Paoli-Calmettes", "Marseille", date(2025, 2, 3)),
    ("CLB", "Centre Léon Bérard", "Lyon", date(2025, 3, 10)),
)
DEMO_ROLES_FROM = date(2025, 1, 1)
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
            user_create(
                actor=actor,
                username=username,
                password=chosen,
                full_name=full_name,
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
def demo_studies_load(*, actor: SystemActor) -> list[DemoStudy]:
    """Load, publish and open for production the demo studies; a second run changes nothing."""
    loaded = []
    for name in DEMO_STUDY_FILES:
        path = examples_dir() / name
        outcome = study_load(actor=actor, study_file=study_file_read(path), source_name=name)
        study = outcome.study
        if outcome.version.status == "draft":
            study_publish(actor=actor, study=study)
            study.refresh_from_db()
        if study.mode == StudyMode.DESIGN:
            study = study_mode_change(actor=actor, study=study, mode=StudyMode.PRODUCTION)
        assert study.current_version is not None
        loaded.append(
            DemoStudy(study.identifier, study.current_version.number, study.mode, outcome.outcome)
        )
        _demo_sites_and_roles(actor=actor, study=study)
        # Treatment cycles stop being expected at the end of treatment (issue 14).
        current = subject_settings(study)
        if not current.treatment_events:
            subject_settings_set(
                actor=actor,
                study=study,
                central_eligibility_review=current.central_eligibility_review,
                identity_vault=current.identity_vault,
                treatment_events=["cycle"],
            )
    return loaded


def _demo_sites_and_roles(*, actor: SystemActor, study: Study) -> None:
    """Make the three demo centres sites of a study and give every demo account its role."""
    sites = []
    for number, (code, name, city, activated_on) in enumerate(DEMO_CENTRES, start=1):
        centre = Centre.objects.filter(code=code).first() or centre_add(
            actor=actor, code=code, name=name, city=city, time_zone="Europe/Paris"
        )
        site = StudySite.objects.filter(study=study, centre=centre).first()
        if site is None:
            site = site_add(actor=actor, study=study, centre=centre, code=f"{number:02d}")
        if site.activated_on is None:
            site = site_activate(actor=actor, site=site, on=activated_on)
        sites.append(site)
    for username, _full_name, role, site_numbers in DEMO_ACCOUNTS:
        user = User.objects.get(username=username)
        # No site numbers: the role covers every site (site=None).
        covered: list[StudySite | None] = [sites[n - 1] for n in site_numbers] or [None]
        for where in covered:
            if not Membership.objects.filter(
                user=user, study=study, site=where, role=role
            ).exists():
                role_grant(
                    actor=actor,
                    user=user,
                    study=study,
                    site=where,
                    role=role,
                    starts_on=DEMO_ROLES_FROM,
                )


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
            user = user_create(actor=actor, username=username, password=chosen, full_name=full_name)
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
