"""The LABS study: a laboratory form at baseline and every cycle, two sites, and its people.

Alice is an investigator at site A; Marc enters data at site B; Sophie monitors both; Dora is
the data manager (all sites); Ben, a blinded statistician, and Una, an unblinded one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from carnet.accounts.models import StudySite, User
from carnet.accounts.roles import Role
from carnet.accounts.services import centre_add, site_activate, site_add
from carnet.capture.services import form_save
from carnet.laboratory.services import lab_file_load
from carnet.studies.definition import study_file_read
from carnet.studies.models import Study
from carnet.studies.services import study_load, study_mode_change, study_publish
from carnet.subjects.models import Subject
from carnet.subjects.services import ConsentGiven, subject_include
from tests.accounts.factories import ADMIN
from tests.accounts.personas import person

FIXTURES = Path(__file__).resolve().parent / "fixtures"
STUDY_FILE = FIXTURES / "labs.yaml"
RANGES_FILE = FIXTURES / "labs-ranges.yaml"


@dataclass
class Lab:
    study: Study
    site_a: StudySite
    site_b: StudySite
    alice: User
    marc: User
    sophie: User
    dora: User
    ben: User
    una: User

    def include(self, user: User, site: StudySite, *, sex: str, age: int) -> Subject:
        subject = subject_include(
            actor=user,
            study=self.study,
            site=site,
            included_on=date(2026, 1, 5),
            eligibility={},
            consent=ConsentGiven(form_version="v1", consented_on=date(2026, 1, 5)),
            sex=sex,
        )
        form_save(
            actor=user,
            subject=subject,
            event="baseline",
            form="demography",
            base_version=0,
            values={"age": age},
        )
        return subject

    def sample(
        self,
        user: User,
        subject: Subject,
        *,
        event: str = "baseline",
        occurrence: int = 1,
        **values: Any,
    ) -> None:
        form_save(
            actor=user,
            subject=subject,
            event=event,
            occurrence=occurrence,
            form="laboratory",
            base_version=None,
            values=values,
        )


@pytest.fixture
def lab(system_actor: Any) -> Lab:
    outcome = study_load(
        actor=ADMIN, study_file=study_file_read(STUDY_FILE), source_name="labs.yaml"
    )
    study_publish(actor=ADMIN, study=outcome.study)
    study = Study.objects.get(pk=outcome.study.pk)
    study_mode_change(actor=ADMIN, study=study, mode="production")
    study.refresh_from_db()
    icm = centre_add(
        actor=ADMIN, code="ICM", name="Institut du Cancer de Montpellier", city="Montpellier"
    )
    ipc = centre_add(actor=ADMIN, code="IPC", name="Institut Paoli-Calmettes", city="Marseille")
    site_a = site_activate(
        actor=ADMIN, site=site_add(actor=ADMIN, study=study, centre=icm), on=date(2025, 1, 1)
    )
    site_b = site_activate(
        actor=ADMIN, site=site_add(actor=ADMIN, study=study, centre=ipc), on=date(2025, 1, 1)
    )
    lab_file_load(
        actor=system_actor,
        study=study,
        content=RANGES_FILE.read_bytes(),
        file_name="labs-ranges.yaml",
    )
    return Lab(
        study=study,
        site_a=site_a,
        site_b=site_b,
        alice=person("alice", study=study, role=Role.INVESTIGATOR, sites=[site_a]),
        marc=person("marc", study=study, role=Role.DATA_ENTRY, sites=[site_b]),
        sophie=person("sophie", study=study, role=Role.MONITOR, sites=[site_a, site_b]),
        dora=person("dora", study=study, role=Role.DATA_MANAGER, sites=[None]),
        ben=person("ben", study=study, role=Role.STATISTICIAN, sites=[None]),
        una=person("una", study=study, role=Role.UNBLINDED_STATISTICIAN, sites=[None]),
    )
