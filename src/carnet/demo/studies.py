"""The demo studies: loaded from examples/studies, published, opened, with their sites and roles."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.db import transaction

from carnet.accounts.models import Centre, Membership, StudySite, User
from carnet.accounts.roles import Role
from carnet.accounts.services import (
    centre_add,
    role_grant,
    site_activate,
    site_add,
)
from carnet.audit.services import SystemActor
from carnet.core.clock import utc_today
from carnet.core.errors import ConfigurationError
from carnet.demo.accounts import DEMO_CENTRES, DEMO_INSPECTION, DEMO_ROLES_FROM, demo_roles
from carnet.laboratory.services import lab_file_load
from carnet.studies.definition import study_file_read
from carnet.studies.models import Study, StudyMode
from carnet.studies.services import study_load, study_mode_change, study_publish
from carnet.subjects.services import subject_settings, subject_settings_set

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
        _demo_laboratory(actor=actor, study=study)
    return loaded


# Normal ranges and the mapping of lab items to analytes, for the studies that have them: the
# laboratory listing then shows flags and CTCAE grades. Loading the same file again changes nothing.
DEMO_LABORATORY_FILES = {"MAINTAIN-CRC": "maintain-crc-ranges.yaml"}


def _demo_laboratory(*, actor: SystemActor, study: Study) -> None:
    name = DEMO_LABORATORY_FILES.get(study.identifier)
    if name is None:
        return
    path = examples_dir().parent / "laboratory" / name
    if not path.is_file():  # a folder of studies copied without it: no ranges, no grades
        return
    lab_file_load(actor=actor, study=study, content=path.read_bytes(), file_name=name)


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
    for username, role, site_numbers in demo_roles():
        user = User.objects.get(username=username)
        ends_on = None
        if role == Role.INSPECTOR:
            inspected, days = DEMO_INSPECTION
            if study.identifier != inspected:
                continue  # an inspector sees the study inspected, nothing else
            ends_on = utc_today() + timedelta(days=days)
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
                    ends_on=ends_on,
                )
