"""MINI in production with a subject at site A, the site's staff, and the people who raise and
close queries: a monitor of A, a monitor of B only, a data manager and a medical reviewer.

The lesions form gains a soft check about each lesion (a diameter over 100 mm is questioned),
so that a check fires per row of the repeating group."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from carnet.accounts.models import User
from carnet.accounts.roles import Role
from carnet.capture.services import form_save
from carnet.studies.definition import study_file_read
from carnet.studies.services import study_load, study_publish
from tests.accounts.personas import ADMIN, FIXTURE, person
from tests.capture.conftest import Capture
from tests.capture.conftest import capture as capture

LESION_CHECK = (
    "    checks:\n"
    '      - {name: lesion_large, expression: "max(diameter) <= 100", severity: soft,'
    " items: [diameter],"
    " message: {en: A lesion over 100 mm is rare, fr: Une lésion de plus de 100 mm est rare}}\n"
)


@dataclass
class Quality:
    capture: Capture
    entry: User  # site data entry at A (answers)
    investigator: User  # at A
    monitor: User  # monitor of A and B
    monitor_b: User  # monitor of B only
    manager: User  # data manager of every site
    reviewer: User  # medical reviewer of every site

    @property
    def subject(self):  # type: ignore[no-untyped-def]
        return self.capture.subject

    @property
    def study(self):  # type: ignore[no-untyped-def]
        return self.capture.subject.study

    def save(self, form: str = "vitals", base: int | None = None, **kwargs: Any):  # type: ignore[no-untyped-def]
        from carnet.capture.models import FormInstance

        if base is None:
            found = FormInstance.objects.filter(subject=self.subject, form=form).first()
            base = found.version if found else 0
        return form_save(
            actor=kwargs.pop("actor", self.entry),
            subject=self.subject,
            event="baseline",
            form=form,
            base_version=base,
            **kwargs,
        )


@pytest.fixture
def quality(capture: Capture, tmp_path: Path) -> Quality:
    text = FIXTURE.read_text(encoding="utf-8")
    anchor = '            calculation: "sum(diameter)"\n'
    assert text.count(anchor) == 1
    amended = tmp_path / "mini.yaml"
    amended.write_text(text.replace(anchor, anchor + LESION_CHECK), encoding="utf-8")
    study_load(actor=ADMIN, study_file=study_file_read(amended), source_name="mini.yaml")
    study_publish(actor=ADMIN, study=capture.world.study)
    capture.subject.study.refresh_from_db()
    w = capture.world
    return Quality(
        capture=capture,
        entry=capture.entry,
        investigator=person("irene", study=w.study, role=Role.INVESTIGATOR, sites=[w.site_a]),
        monitor=capture.monitor,
        monitor_b=person("bruno", study=w.study, role=Role.MONITOR, sites=[w.site_b]),
        manager=person("dana", study=w.study, role=Role.DATA_MANAGER),
        reviewer=person("remy", study=w.study, role=Role.MEDICAL_REVIEWER),
    )
