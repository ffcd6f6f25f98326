"""The subjects suite's people and clock: MINI with sites A (ICM) and B (IPC), on 16 June 2025.

Alice is an investigator at site A, Bea does data entry at site B, Mira is the medical reviewer,
Dana the data manager, Moe monitors site A.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pytest
import time_machine

from carnet.accounts.models import StudySite, User
from carnet.accounts.roles import Role
from carnet.audit.models import AuditEvent
from carnet.subjects.models import Subject
from carnet.subjects.services import ConsentGiven, subject_include
from tests.accounts.personas import World, person, world

TODAY = date(2025, 6, 16)


@dataclass
class Cast:
    w: World
    alice: User
    bea: User
    mira: User
    dana: User
    moe: User

    @property
    def study(self):  # type: ignore[no-untyped-def]
        return self.w.study

    @property
    def site_a(self) -> StudySite:
        return self.w.site_a

    @property
    def site_b(self) -> StudySite:
        return self.w.site_b


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    """Fix the clock at 10:00 UTC on 16 June 2025 (noon in Montpellier and Marseille)."""
    with time_machine.travel(datetime(2025, 6, 16, 10, 0, tzinfo=UTC), tick=False) as traveller:
        yield traveller


@pytest.fixture
def cast(db: Any, clock: time_machine.Traveller) -> Cast:
    w = world()
    return Cast(
        w=w,
        alice=person("alice", study=w.study, role=Role.INVESTIGATOR, sites=[w.site_a]),
        bea=person("bea", study=w.study, role=Role.DATA_ENTRY, sites=[w.site_b]),
        mira=person("mira", study=w.study, role=Role.MEDICAL_REVIEWER),
        dana=person("dana", study=w.study, role=Role.DATA_MANAGER),
        moe=person("moe", study=w.study, role=Role.MONITOR, sites=[w.site_a]),
    )


ELIGIBLE = {"weight": 72.5, "packs": 10}


def include(
    cast: Cast,
    *,
    actor: User | None = None,
    site: StudySite | None = None,
    on: date = date(2025, 6, 2),
    consented_on: date | None = None,
    eligibility: dict[str, Any] | None = None,
    **extra: Any,
) -> Subject:
    """Include an eligible patient at site A (by Alice) unless told otherwise."""
    return subject_include(
        actor=actor or cast.alice,
        study=cast.study,
        site=site or cast.site_a,
        included_on=on,
        eligibility=ELIGIBLE if eligibility is None else eligibility,
        consent=ConsentGiven(form_version="v1.0", consented_on=consented_on or on),
        **extra,
    )


class Snapshot:
    """Counts of rows and audit events, to prove a refusal wrote nothing."""

    def __init__(self) -> None:
        self.before = self.counts()

    @staticmethod
    def counts() -> dict[str, int]:
        from django.apps import apps

        counts = {
            m.__name__: m.objects.count() for m in apps.get_app_config("subjects").get_models()
        }
        counts["AuditEvent"] = AuditEvent.objects.count()
        return counts

    def unchanged(self) -> bool:
        return self.counts() == self.before
