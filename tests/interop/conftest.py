"""MINI amended with what an export must handle: an arm-revealing kit number, an identifying
item, a partial date; in production, with a randomised subject at site A, people who export."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from carnet.accounts.models import User
from carnet.accounts.roles import Role
from carnet.capture.services import form_save
from carnet.randomization.services import subject_randomise
from carnet.studies.definition import study_file_read
from carnet.studies.services import study_load, study_mode_change, study_publish
from carnet.subjects.models import Subject
from tests.accounts.personas import ADMIN, FIXTURE, World, person, world
from tests.capture.conftest import include

KIT = "471147"
INITIALS = "JDU"
EXTRA_ITEMS = (
    "          - {name: kit_number, type: text, flags: [arm_revealing],"
    " label: {en: Kit number, fr: Numéro de kit}}\n"
    "          - {name: initials, type: text, flags: [identifying],"
    " label: {en: Initials, fr: Initiales}}\n"
    "          - {name: diagnosed, type: partial_date,"
    " label: {en: Date of diagnosis, fr: Date du diagnostic}}\n"
)
ANCHOR = "          - {name: vs_date, type: date,"


@dataclass
class Exporting:
    world: World
    entry: User  # site data entry at site A
    statistician: User  # blinded, all sites
    unblinded: User  # unblinded statistician
    monitor: User  # may not export
    subject: Subject
    arm: str


def amend(tmp_path: Path, text: str) -> None:
    amended = tmp_path / "mini.yaml"
    amended.write_text(text, encoding="utf-8")
    study_load(actor=ADMIN, study_file=study_file_read(amended), source_name="mini.yaml")


@pytest.fixture
def exporting(tmp_path: Path) -> Exporting:
    text = FIXTURE.read_text(encoding="utf-8")
    assert text.count(ANCHOR) == 1
    w = world()
    amend(tmp_path, text.replace(ANCHOR, EXTRA_ITEMS + ANCHOR))
    study_publish(actor=ADMIN, study=w.study)
    study_mode_change(actor=ADMIN, study=w.study, mode="production")
    w.study.refresh_from_db()
    entry = person("julie", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_a])
    subject = include(w, entry)
    form_save(
        actor=entry,
        subject=subject,
        event="baseline",
        form="vitals",
        base_version=0,
        values={
            "weight": "70,5",
            "height": 172,
            "smoker": 1,
            "kit_number": KIT,
            "initials": INITIALS,
            "diagnosed": "2025-03",
            "vs_date": "2026-01-05",
        },
    )
    allocation = subject_randomise(actor=entry, subject=subject)
    form_save(
        actor=entry,
        subject=subject,
        event="baseline",
        form="lesions",
        base_version=0,
        rows={
            "target": {
                1: {"lesion_site": "liver", "diameter": 25},
                2: {"lesion_site": "lung", "diameter": 40},
            }
        },
    )
    return Exporting(
        world=w,
        entry=entry,
        statistician=person("stella", study=w.study, role=Role.STATISTICIAN),
        unblinded=person("ulysse", study=w.study, role=Role.UNBLINDED_STATISTICIAN),
        monitor=person("sophie", study=w.study, role=Role.MONITOR, sites=[w.site_a]),
        subject=subject,
        arm=allocation.arm,
    )
