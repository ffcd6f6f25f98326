"""MINI with a randomisation scheme, in production, with people at sites A and B.

The scheme replaces MINI's own (minimisation on site and smoker) where a test asks for another;
smoker is an item of the baseline vital signs, entered through the casebook as a site would.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from carnet.accounts.models import User
from carnet.accounts.roles import Role
from carnet.capture.services import form_save
from carnet.studies.definition import study_file_read
from carnet.studies.services import study_load, study_mode_change, study_publish
from carnet.subjects.models import Subject
from carnet.subjects.services import ConsentGiven, subject_include
from tests.accounts.personas import ADMIN, FIXTURE, World, person, world

MINIMISATION = "randomisation: {method: minimisation, ratio: [1, 1], factors: [site, smoker]}"
BLOCKS = (
    "randomisation: {method: blocks, ratio: [1, 1], block_sizes: [2, 4], strata: [site, smoker]}"
)

# Version 2 adds a treatment visit anchored on randomisation: planned once the subject is.
AFTER_RANDOMISATION_BEFORE = "  - name: adverse_events\n"
AFTER_RANDOMISATION = """  - name: treatment
    label: {en: Treatment, fr: Traitement}
    schedule: {anchor: randomisation, offset_days: 7, window: {before: 1, after: 2}}
    forms: [vitals]
"""


@dataclass
class Trial:
    world: World
    investigator: User  # site A
    nurse: User  # site data entry, site A
    other_site: User  # site data entry, site B
    data_manager: User  # all sites
    unblinded: User  # unblinded statistician

    def include(
        self,
        *,
        smoker: int | None = 1,
        site: str = "a",
        on: date = date(2026, 1, 5),
        enter: bool = True,
    ) -> Subject:
        """Include a patient at site A (or B) and enter smoker in the baseline vital signs."""
        who = self.nurse if site == "a" else self.other_site
        subject = subject_include(
            actor=who,
            study=self.world.study,
            site=self.world.site_a if site == "a" else self.world.site_b,
            included_on=on,
            eligibility={"baseline.weight": 70, "weight": 70, "packs": 0},
            consent=ConsentGiven(form_version="v1", consented_on=on),
        )
        if not enter:
            return subject
        values: dict[str, object] = {"weight": 70}
        if smoker is not None:
            values["smoker"] = smoker
        form_save(
            actor=who,
            subject=subject,
            event="baseline",
            form="vitals",
            base_version=0,
            values=values,
        )
        return subject


def trial_with(scheme: str, tmp_path: Path, *, mode: str = "production") -> Trial:
    w = world()
    text = FIXTURE.read_text(encoding="utf-8")
    assert MINIMISATION in text
    amended = tmp_path / "mini.yaml"
    assert text.count(AFTER_RANDOMISATION_BEFORE) == 1
    amended.write_text(
        text.replace(MINIMISATION, scheme).replace(
            AFTER_RANDOMISATION_BEFORE, AFTER_RANDOMISATION + AFTER_RANDOMISATION_BEFORE
        ),
        encoding="utf-8",
    )
    study_load(actor=ADMIN, study_file=study_file_read(amended), source_name="mini.yaml")
    study_publish(actor=ADMIN, study=w.study)
    study_mode_change(actor=ADMIN, study=w.study, mode=mode)
    w.study.refresh_from_db()
    return Trial(
        world=w,
        investigator=person("irene", study=w.study, role=Role.INVESTIGATOR, sites=[w.site_a]),
        nurse=person("julie", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_a]),
        other_site=person("marc", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_b]),
        data_manager=person("dora", study=w.study, role=Role.DATA_MANAGER),
        unblinded=person("ulysse", study=w.study, role=Role.UNBLINDED_STATISTICIAN),
    )


@pytest.fixture
def minimisation_trial(tmp_path: Path) -> Trial:
    return trial_with(MINIMISATION, tmp_path)


@pytest.fixture
def blocks_trial(tmp_path: Path) -> Trial:
    return trial_with(BLOCKS, tmp_path)
