"""The MINI study with two sites (A at ICM, B at IPC), a subject at each, a baseline plasma
sample of 4 mL at A and one at B, and the people of the biobank's storage tests: a technician
of site A, one of site B, an investigator at A (no sample handling) and an outsider."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from carnet.accounts.models import User
from carnet.accounts.roles import Role
from carnet.biobank.models import Box, Freezer, Sample, SampleStatus
from carnet.biobank.storage import box_create, freezer_create, rack_create
from carnet.core.clock import utc_now
from carnet.subjects.models import Subject
from carnet.subjects.services import ConsentGiven, subject_include
from tests.accounts.personas import World, person, world


@dataclass
class Storage:
    world: World
    technician: User  # biobank technician of site A
    technician_b: User  # biobank technician of site B
    investigator: User  # investigator at A: no sample handling
    outsider: User
    subject: Subject  # at A
    subject_b: Subject  # at B
    plasma: Sample  # 4 mL at A
    plasma_b: Sample  # 4 mL at B
    freezer: Freezer  # at ICM, -80 °C
    box: Box  # 9 × 9, in rack R1 of the freezer

    @property
    def study(self):
        return self.world.study

    def sample(self, identifier: str, *, site: str = "a", volume: str | None = "4") -> Sample:
        """Return a new collected sample, created directly (collection is another module's)."""
        subject = self.subject if site == "a" else self.subject_b
        now = utc_now()
        return Sample.objects.create(
            study=self.study,
            environment=subject.environment,
            subject=subject,
            site=subject.site,
            identifier=identifier,
            sample_type="plasma",
            container="cryotube_2ml",
            volume=Decimal(volume) if volume is not None else None,
            unit="mL",
            status=SampleStatus.COLLECTED,
            collected_at=datetime(2026, 1, 5, 9, 30, tzinfo=now.tzinfo),
            collected_by="nurse",
            created_at=now,
            created_by="nurse",
            updated_at=now,
        )


def storage_world() -> Storage:
    w = world()
    nurse = person("nurse", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_a, w.site_b])
    technician = person("tech", study=w.study, role=Role.BIOBANK_TECHNICIAN, sites=[w.site_a])
    technician_b = person("tech_b", study=w.study, role=Role.BIOBANK_TECHNICIAN, sites=[w.site_b])
    investigator = person("investigator", study=w.study, role=Role.INVESTIGATOR, sites=[w.site_a])
    outsider = person("outsider")
    subjects = [
        subject_include(
            actor=nurse,
            study=w.study,
            site=site,
            included_on=date(2026, 1, 5),
            eligibility={"baseline.weight": 70, "weight": 70, "packs": 0},
            consent=ConsentGiven(form_version="v1", consented_on=date(2026, 1, 5)),
        )
        for site in (w.site_a, w.site_b)
    ]
    freezer = freezer_create(
        actor=technician, study=w.study, centre=w.site_a.centre, name="F-80-1", temperature=-80
    )
    rack = rack_create(actor=technician, study=w.study, freezer=freezer, name="R1")
    box = box_create(actor=technician, study=w.study, rack=rack, name="BOX-01", rows=9, columns=9)
    storage = Storage(
        world=w,
        technician=technician,
        technician_b=technician_b,
        investigator=investigator,
        outsider=outsider,
        subject=subjects[0],
        subject_b=subjects[1],
        plasma=None,  # type: ignore[arg-type]
        plasma_b=None,  # type: ignore[arg-type]
        freezer=freezer,
        box=box,
    )
    storage.plasma = storage.sample("MINI-01-001-PL01")
    storage.plasma_b = storage.sample("MINI-02-001-PL01", site="b")
    return storage
