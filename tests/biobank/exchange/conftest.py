"""MINI in production with a biobank: a technician of every site, one of site B only, a nurse at
each site, a researcher (statistician) and an outsider; a central lab and a partner; patients
who gave every optional consent, with samples created directly (collection is another part's)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from itertools import count

import pytest
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from carnet.accounts.models import User
from carnet.accounts.roles import Role
from carnet.accounts.services import token_create
from carnet.biobank.models import Destination, Sample, SampleStatus, TransferAgreement
from carnet.biobank.mta import agreement_create, destination_create
from carnet.core.clock import utc_now, utc_today
from carnet.studies.models import Study
from carnet.studies.services import study_mode_change
from carnet.subjects.environments import Environment
from carnet.subjects.models import Subject
from carnet.subjects.services import ConsentGiven, subject_include
from tests.accounts.personas import ADMIN, World, person, with_second_factor, world

_numbers = count(1)


@dataclass
class Bank:
    world: World
    technician: User  # biobank technician, every site
    technician_b: User  # biobank technician, site B only
    nurse: User  # data entry at site A
    nurse_b: User
    researcher: User  # statistician: may ask for samples
    outsider: User
    central_lab: Destination
    partner: Destination
    mta: TransferAgreement  # with the partner: plasma, future research and sharing
    subjects: list[Subject] = field(default_factory=list)

    @property
    def study(self) -> Study:
        return self.world.study

    def include(
        self,
        site: str = "a",
        *,
        biobank: bool = True,
        future_research: bool = True,
        genetic_analysis: bool = True,
        sharing: bool = True,
    ) -> Subject:
        number = len(self.subjects)
        subject = subject_include(
            actor=self.nurse if site == "a" else self.nurse_b,
            study=self.study,
            site=self.world.site_a if site == "a" else self.world.site_b,
            included_on=date(2026, 1, 5) + timedelta(days=number),
            eligibility={"baseline.weight": 70, "weight": 70, "packs": 0},
            consent=ConsentGiven(
                form_version="v1",
                consented_on=date(2026, 1, 5) + timedelta(days=number),
                biobank=biobank,
                future_research=future_research,
                genetic_analysis=genetic_analysis,
                sharing=sharing,
            ),
        )
        self.subjects.append(subject)
        return subject

    def sample(
        self,
        subject: Subject,
        *,
        sample_type: str = "plasma",
        parent: Sample | None = None,
        status: str = SampleStatus.STORED,
        identifier: str = "",
    ) -> Sample:
        now = utc_now()
        return Sample.objects.create(
            study=self.study,
            environment=Environment.PRODUCTION,
            subject=subject,
            site=subject.site,
            identifier=identifier or f"S{next(_numbers):06d}",
            parent=parent,
            event="baseline",
            sample_type=sample_type,
            volume=Decimal("0.5"),
            unit="mL",
            status=status,
            created_at=now,
            created_by="test",
            updated_at=now,
        )

    def client(self, user: User) -> Client:
        """Return a browser signed in as the person (with their second factor, if enrolled)."""
        client = Client()
        client.force_login(user)
        device = TOTPDevice.objects.filter(user=user).first()
        if device is not None:
            session = client.session
            session[DEVICE_ID_SESSION_KEY] = device.persistent_id
            session.save()
        return client

    def api(self, user: User) -> Client:
        _token, key = token_create(actor=ADMIN, user=user, study=self.study)
        return Client(headers={"authorization": f"Bearer {key}"})


def make_bank() -> Bank:
    w = world()
    study_mode_change(actor=ADMIN, study=w.study, mode="production")
    w.study.refresh_from_db()
    technician = person("tina", study=w.study, role=Role.BIOBANK_TECHNICIAN)
    central = destination_create(
        actor=technician, study=w.study, code="CLAB", name="Central lab", kind="central_lab"
    )
    partner = destination_create(
        actor=technician, study=w.study, code="PART", name="Partner lab", kind="partner"
    )
    today = utc_today()
    mta = agreement_create(
        actor=technician,
        study=w.study,
        reference="MTA-1",
        destination=partner,
        uses=["future_research", "sharing"],
        sample_types=["plasma"],
        starts_on=today - timedelta(days=30),
        ends_on=today + timedelta(days=365),
        maximum_samples=10,
    )
    return Bank(
        world=w,
        technician=technician,
        technician_b=person("theo", study=w.study, role=Role.BIOBANK_TECHNICIAN, sites=[w.site_b]),
        nurse=person("julie", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_a]),
        nurse_b=person("marc", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_b]),
        researcher=with_second_factor(person("rita", study=w.study, role=Role.STATISTICIAN)),
        outsider=person("oscar"),
        central_lab=central,
        partner=partner,
        mta=mta,
    )


@pytest.fixture
def bank(db: None) -> Bank:
    return make_bank()
