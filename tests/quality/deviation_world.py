"""MINI whose blood-pressure check records a major protocol deviation, randomised by
minimisation, in production, with the people who meet deviations at sites A and B."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from carnet.accounts.models import User
from carnet.accounts.roles import Role
from carnet.capture.services import form_save
from carnet.studies.definition import study_file_read
from carnet.studies.services import study_load, study_mode_change, study_publish
from carnet.subjects.models import Subject
from carnet.subjects.services import ConsentGiven, subject_include
from tests.accounts.personas import ADMIN, FIXTURE, World, person, world

BP_ORDER = '{name: bp_order, expression: "sbp > dbp", severity: soft,'
BP_ORDER_DEVIATION = (
    '{name: bp_order, expression: "sbp > dbp", severity: soft, deviation: true, '
    "deviation_class: major, deviation_category: visit_window,"
)


@dataclass
class DeviationWorld:
    world: World
    nurse: User  # site data entry, site A
    other_site: User  # site data entry, site B
    monitor_b: User  # monitor of site B only
    data_manager: User  # all sites
    statistician: User  # blinded, all sites

    def include(self, *, site: str = "a", on: date = date(2026, 1, 5)) -> Subject:
        who = self.nurse if site == "a" else self.other_site
        return subject_include(
            actor=who,
            study=self.world.study,
            site=self.world.site_a if site == "a" else self.world.site_b,
            included_on=on,
            eligibility={"baseline.weight": 70, "weight": 70, "packs": 0},
            consent=ConsentGiven(form_version="v1", consented_on=on),
        )

    def vitals(self, subject: Subject, base: int, **values: Any) -> Any:
        who = self.nurse if subject.site_id == self.world.site_a.pk else self.other_site
        return form_save(
            actor=who,
            subject=subject,
            event="baseline",
            form="vitals",
            base_version=base,
            values=values,
            reason="corrected from source" if base else "",
        )


DBP = "{name: dbp, type: integer,"
# The diastolic pressure as if it revealed the arm (a drug that lowers it, say).
DBP_ARM_REVEALING = "{name: dbp, flags: [arm_revealing], type: integer,"


def deviation_world(tmp_path: Path, *, arm_revealing: bool = False) -> DeviationWorld:
    w = world()
    text = FIXTURE.read_text(encoding="utf-8")
    assert text.count(BP_ORDER) == 1
    assert text.count(DBP) == 1
    text = text.replace(BP_ORDER, BP_ORDER_DEVIATION)
    if arm_revealing:
        text = text.replace(DBP, DBP_ARM_REVEALING)
    amended = tmp_path / "mini.yaml"
    amended.write_text(text, encoding="utf-8")
    study_load(actor=ADMIN, study_file=study_file_read(amended), source_name="mini.yaml")
    study_publish(actor=ADMIN, study=w.study)
    study_mode_change(actor=ADMIN, study=w.study, mode="production")
    w.study.refresh_from_db()
    return DeviationWorld(
        world=w,
        nurse=person("julie", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_a]),
        other_site=person("marc", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_b]),
        monitor_b=person("bruno", study=w.study, role=Role.MONITOR, sites=[w.site_b]),
        data_manager=person("dora", study=w.study, role=Role.DATA_MANAGER),
        statistician=person("stella", study=w.study, role=Role.STATISTICIAN),
    )
