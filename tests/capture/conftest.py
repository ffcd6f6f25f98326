"""A study in production with a subject at site A, and the people who enter its data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest

from carnet.accounts.models import User
from carnet.accounts.roles import Role
from carnet.studies.services import study_mode_change
from carnet.subjects.models import Subject
from carnet.subjects.services import ConsentGiven, subject_include
from tests.accounts.personas import ADMIN, World, person, world


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
