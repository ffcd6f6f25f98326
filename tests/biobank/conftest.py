"""MINI amended to expect plasma (double spun, 4 °C within 2 hours, -80 °C) and an FFPE tumour
block at baseline, in production, with its people: a nurse at each site, a biobank technician
of site A, a monitor of site A, a blinded statistician and an outsider."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from carnet.accounts.models import User
from carnet.accounts.roles import Role
from carnet.accounts.services import token_create
from carnet.biobank.collection import sample_collect, sample_process
from carnet.biobank.models import Sample
from carnet.studies.definition import study_file_read
from carnet.studies.models import Study
from carnet.studies.services import study_load, study_mode_change, study_publish
from carnet.subjects.models import Subject
from carnet.subjects.services import ConsentGiven, subject_include, visit_record
from tests.accounts.personas import ADMIN, FIXTURE, World, person, world

BASELINE_FORMS = "    forms: [vitals, lesions]\n"
SAMPLES = """    samples:
      - code: plasma
        label: {en: Plasma (ctDNA), fr: Plasma (ADN circulant)}
        type: plasma
        container: edta
        volume: 10
        unit: mL
        aliquots: 4
        processing:
          centrifuge_within_minutes: 120
          centrifuge_temperature: 4
          centrifuge_g: 1600
          centrifuge_minutes: 10
          second_centrifugation: true
          freeze_within_minutes: 240
        storage: -80
        destination: CRB
      - code: tumour
        label: {en: Tumour block, fr: Bloc tumoral}
        type: tumour_ffpe
        container: formalin
        volume: 1
        unit: blocks
        processing:
          fixative: neutral_buffered_formalin
          fix_within_minutes: 60
          fixation_hours_min: 6
          fixation_hours_max: 72
        storage: 20
      - code: biopsy
        type: tumour_frozen
        optional: true
        processing: {fixative: snap_frozen, fix_within_minutes: 30}
        storage: -80
"""
INCLUDED = date(2026, 1, 5)
# 09:00 in Montpellier on the day of inclusion.
COLLECTED = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def minutes(n: float) -> datetime:
    return COLLECTED + timedelta(minutes=n)


@dataclass
class Biobank:
    world: World
    subject: Subject  # 01-001 at site A, consented to the biobank, not to future research
    nurse: User  # data entry at A
    nurse_b: User  # data entry at B
    technician: User  # biobank technician at A
    technician_b: User  # biobank technician at B
    monitor: User  # monitor of A
    statistician: User  # blinded statistician, every site
    outsider: User  # no role in the study

    @property
    def study(self) -> Study:
        return self.world.study

    def include(self, site: str = "a", on: date = INCLUDED) -> Subject:
        return subject_include(
            actor=self.nurse if site == "a" else self.nurse_b,
            study=self.study,
            site=self.world.site_a if site == "a" else self.world.site_b,
            included_on=on,
            eligibility={"baseline.weight": 70, "weight": 70, "packs": 0},
            consent=ConsentGiven(form_version="v1", consented_on=on, biobank=True),
        )

    def visit(self, subject: Subject | None = None, on: date = INCLUDED) -> None:
        subject = subject or self.subject
        actor = self.nurse if subject.site == self.world.site_a else self.nurse_b
        visit_record(actor=actor, subject=subject, event="baseline", visit_on=on, occurrence=1)

    def plasma(self, subject: Subject | None = None, **kwargs: Any) -> Sample:
        return sample_collect(
            actor=kwargs.pop("actor", self.nurse),
            subject=subject or self.subject,
            event="baseline",
            code="plasma",
            collected_at=kwargs.pop("collected_at", COLLECTED),
            volume=kwargs.pop("volume", Decimal("10")),
            **kwargs,
        )

    def process_plasma(self, sample: Sample, *, first_at: float = 45, cold: bool = True) -> None:
        """Spin at 4 °C 1600 g 10 min, spin again, freeze at -80 °C (the protocol's way)."""
        held = "cold" if cold else "room"
        sample_process(
            actor=self.nurse,
            sample=sample,
            kind="centrifugation",
            started_at=minutes(first_at),
            ended_at=minutes(first_at + 10),
            temperature=Decimal(4),
            force_g=1600,
            held=held,
        )
        sample_process(
            actor=self.nurse,
            sample=sample,
            kind="second_centrifugation",
            started_at=minutes(first_at + 15),
            ended_at=minutes(first_at + 25),
            temperature=Decimal(4),
            force_g=1600,
        )
        sample_process(
            actor=self.nurse,
            sample=sample,
            kind="freezing",
            started_at=minutes(first_at + 55),
            temperature=Decimal(-80),
            held=held,
        )

    def client(self, user: User) -> Client:
        client = Client()
        client.force_login(user)
        return client

    def api(self, user: User) -> Client:
        _token, key = token_create(actor=ADMIN, user=user, study=self.study)
        return Client(headers={"authorization": f"Bearer {key}"})


def amended_study(tmp_path: Path) -> Path:
    text = FIXTURE.read_text(encoding="utf-8")
    assert text.count(BASELINE_FORMS) == 1
    amended = tmp_path / "mini.yaml"
    amended.write_text(text.replace(BASELINE_FORMS, BASELINE_FORMS + SAMPLES), encoding="utf-8")
    return amended


@pytest.fixture
def biobank(tmp_path: Path) -> Biobank:
    w = world()
    study_load(
        actor=ADMIN, study_file=study_file_read(amended_study(tmp_path)), source_name="mini.yaml"
    )
    study_publish(actor=ADMIN, study=w.study)
    study_mode_change(actor=ADMIN, study=w.study, mode="production")
    w.study.refresh_from_db()
    b = Biobank(
        world=w,
        subject=None,  # type: ignore[arg-type]
        nurse=person("julie", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_a]),
        nurse_b=person("marc", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_b]),
        technician=person("theo", study=w.study, role=Role.BIOBANK_TECHNICIAN, sites=[w.site_a]),
        technician_b=person("tina", study=w.study, role=Role.BIOBANK_TECHNICIAN, sites=[w.site_b]),
        monitor=person("sophie", study=w.study, role=Role.MONITOR, sites=[w.site_a]),
        statistician=person("stan", study=w.study, role=Role.STATISTICIAN),
        outsider=person("olga"),
    )
    b.subject = b.include()
    return b
