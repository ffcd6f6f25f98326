"""MINI amended with an arm-revealing kit number, an identifying item and a checkbox, in
production, with a subject at each site, and tokens for the people who use the REDCap API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from carnet.accounts.models import User
from carnet.accounts.roles import Role
from carnet.accounts.services import token_create
from carnet.capture.services import form_save
from carnet.studies.definition import study_file_read
from carnet.studies.services import study_load, study_mode_change, study_publish
from carnet.subjects.models import Subject
from carnet.subjects.services import ConsentGiven, subject_include
from tests.accounts.personas import ADMIN, FIXTURE, World, person, with_second_factor, world

KIT = "471147"
INITIALS = "JDU"
CODE_LIST = """  - name: symptoms
    type: integer
    items:
      - {code: 1, label: {en: Cough, fr: Toux}}
      - {code: 2, label: {en: Fever, fr: Fièvre}}
      - {code: 3, label: {en: Fatigue, fr: Fatigue}}
events:
"""
EXTRA_ITEMS = (
    "          - {name: kit_number, type: text, flags: [arm_revealing],"
    " label: {en: Kit number, fr: Numéro de kit}}\n"
    "          - {name: initials, type: text, flags: [identifying],"
    " label: {en: Initials, fr: Initiales}}\n"
    "          - {name: symptoms, type: multiple_choice, code_list: symptoms,"
    " label: {en: Symptoms, fr: Symptômes}}\n"
)
ANCHOR = "          - {name: vs_date, type: date,"


@dataclass
class RedcapWorld:
    world: World
    entry: User  # data entry at site A
    entry_b: User  # data entry at site B
    statistician: User  # blinded, all sites
    unblinded: User
    subject: Subject  # at site A
    subject_b: Subject  # at site B
    keys: dict[str, str]


def _include(w: World, user: User, site: object) -> Subject:
    on = date(2026, 1, 5)
    return subject_include(
        actor=user,
        study=w.study,
        site=site,  # type: ignore[arg-type]
        included_on=on,
        eligibility={"baseline.weight": 70, "weight": 70, "packs": 0},
        consent=ConsentGiven(form_version="v1", consented_on=on),
    )


def redcap_world(tmp_path: Path) -> RedcapWorld:
    text = FIXTURE.read_text(encoding="utf-8")
    assert text.count(ANCHOR) == 1
    assert text.count("events:\n") == 1
    w = world()
    amended = tmp_path / "mini.yaml"
    amended.write_text(
        text.replace(ANCHOR, EXTRA_ITEMS + ANCHOR).replace("events:\n", CODE_LIST), "utf-8"
    )
    study_load(actor=ADMIN, study_file=study_file_read(amended), source_name="mini.yaml")
    study_publish(actor=ADMIN, study=w.study)
    study_mode_change(actor=ADMIN, study=w.study, mode="production")
    w.study.refresh_from_db()
    entry = with_second_factor(
        person("julie", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_a])
    )
    entry_b = with_second_factor(
        person("marc", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_b])
    )
    statistician = with_second_factor(person("stella", study=w.study, role=Role.STATISTICIAN))
    unblinded = with_second_factor(
        person("ulysse", study=w.study, role=Role.UNBLINDED_STATISTICIAN)
    )
    manager = with_second_factor(person("thomas", study=w.study, role=Role.DATA_MANAGER))
    subject = _include(w, entry, w.site_a)
    subject_b = _include(w, entry_b, w.site_b)
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
            "packs": 12,
            "kit_number": KIT,
            "initials": INITIALS,
            "symptoms": [1, 3],
            "vs_date": "2026-01-05",
        },
    )
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
    form_save(
        actor=entry_b,
        subject=subject_b,
        event="baseline",
        form="vitals",
        base_version=0,
        values={"weight": 81, "height": 180, "smoker": 0, "vs_date": "2026-01-06"},
    )
    keys = {
        name: token_create(actor=ADMIN, user=user, study=w.study)[1]
        for name, user in (
            ("entry", entry),
            ("entry_b", entry_b),
            ("statistician", statistician),
            ("unblinded", unblinded),
            ("manager", manager),
        )
    }
    return RedcapWorld(w, entry, entry_b, statistician, unblinded, subject, subject_b, keys)


@pytest.fixture
def redcap(tmp_path: Path) -> RedcapWorld:
    return redcap_world(tmp_path)
