"""A study in production with a subject at site A, and the people who enter its data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from carnet.accounts.models import User
from carnet.accounts.roles import Role
from carnet.studies.definition import study_file_read
from carnet.studies.services import study_load, study_mode_change, study_publish
from carnet.subjects.models import Subject
from carnet.subjects.services import ConsentGiven, subject_include
from tests.accounts.personas import ADMIN, FIXTURE, World, person, world


@dataclass
class Capture:
    world: World
    subject: Subject
    entry: User  # site data entry at site A
    other_site: User  # site data entry at site B
    monitor: User  # monitor of sites A and B (reads only)


def include(w: World, user: User, on: date = date(2026, 1, 5)) -> Subject:
    return subject_include(
        actor=user,
        study=w.study,
        site=w.site_a,
        included_on=on,
        eligibility={"baseline.weight": 70, "weight": 70, "packs": 0},
        consent=ConsentGiven(form_version="v1", consented_on=on),
    )


@pytest.fixture
def capture() -> Capture:
    w = world()
    study_mode_change(actor=ADMIN, study=w.study, mode="production")
    w.study.refresh_from_db()
    entry = person("julie", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_a])
    other = person("marc", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_b])
    monitor = person("sophie", study=w.study, role=Role.MONITOR, sites=[w.site_a, w.site_b])
    subject = include(w, entry)
    return Capture(w, subject, entry, other, monitor)


# An amendment of MINI adds two repeating forms: adverse events (logged at the unscheduled
# "adverse events" event) and the medications taken at baseline (a cell of the casebook grid),
# and the study's own reasons for a form not done.
NOT_DONE_REASONS = """  not_done_reasons:
    - {code: PATIENT_REFUSED, label: {en: Patient refused, fr: Refus du patient}}
"""
REPEATING_FORMS = """forms:
  - name: adverse_event
    label: {en: Adverse event, fr: Événement indésirable}
    repeating: true
    groups:
      - name: ae
        items:
          - {name: ae_term, type: text, required: true, label: {en: Term, fr: Terme}}
          - {name: ae_grade, type: integer, range: {min: 1, max: 5}, label: {en: Grade, fr: Grade}}
  - name: medication
    label: {en: Medication, fr: Traitement}
    repeating: true
    groups:
      - name: cm
        items:
          - {name: cm_name, type: text, label: {en: Medication, fr: Médicament}}
"""


@pytest.fixture
def repeating(capture: Capture, tmp_path: Path) -> Capture:
    """Return the capture world once an amendment adds the repeating forms, published."""
    text = FIXTURE.read_text(encoding="utf-8")
    for old, new in (
        ("    forms: [vitals, lesions]\n", "    forms: [vitals, lesions, medication]\n"),
        ("    forms: [lesions]\n", "    forms: [lesions, adverse_event]\n"),
        ("forms:\n  - name: vitals\n", REPEATING_FORMS + "  - name: vitals\n"),
        ("arms:\n", NOT_DONE_REASONS + "arms:\n"),
    ):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    amended = tmp_path / "mini.yaml"
    amended.write_text(text, encoding="utf-8")
    study_load(actor=ADMIN, study_file=study_file_read(amended), source_name="mini.yaml")
    study_publish(actor=ADMIN, study=capture.world.study)
    capture.subject.study.refresh_from_db()
    return capture
