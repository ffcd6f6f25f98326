"""Stored schedules at scale: a study's rebuild stores what the pure schedule plans, and a page
never plans a whole study again while it reads (that is the hourly job's work)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from carnet.core.clock import utc_today
from carnet.subjects.models import PlannedVisit, ScheduleSummary
from carnet.subjects.schedule import planned_occurrences
from carnet.subjects.scheduling import PLANNED_AHEAD, schedule_rebuild, subject_dates
from carnet.subjects.services import visit_record
from tests.subjects.conftest import Cast, include
from tests.subjects.test_pages import BASE, client_for

pytestmark = pytest.mark.django_db


def _stored(subject_id: int) -> list[tuple[object, ...]]:
    return sorted(
        PlannedVisit.objects.filter(subject_id=subject_id).values_list(
            "event", "number", "target", "earliest", "latest", "done_on", "settled", "unbounded"
        )
    )


def test_a_study_rebuild_stores_the_planned_schedule_of_every_subject(cast: Cast) -> None:
    first = include(cast, on=date(2025, 6, 2))
    second = include(cast, on=date(2025, 6, 16))
    visit_record(actor=cast.alice, subject=first, event="baseline", visit_on=date(2025, 6, 2))
    PlannedVisit.objects.all().delete()
    ScheduleSummary.objects.all().delete()

    assert schedule_rebuild(study=cast.study) == 2

    definition = cast.study.current_version.parsed()
    for subject in (first, second):
        planned = planned_occurrences(
            definition, subject_dates(subject), through=utc_today() + PLANNED_AHEAD
        )
        expected = sorted(
            (p.event, p.number, p.target, p.earliest, p.latest, p.done_on, p.settled.value, flag)
            for p in planned
            for flag in [p.unbounded]
        )
        assert expected  # the study plans visits: the comparison says something
        # Read back as dates and booleans, as the plain INSERT wrote them.
        assert _stored(subject.pk) == expected
    assert ScheduleSummary.objects.count() == 2


def test_the_list_plans_again_a_schedule_past_its_end_but_leaves_one_near_it(cast: Cast) -> None:
    near, past = include(cast, on=date(2025, 6, 2)), include(cast, on=date(2025, 6, 16))
    ScheduleSummary.objects.filter(subject=near).update(
        planned_through=utc_today() + timedelta(days=10)
    )
    ScheduleSummary.objects.filter(subject=past).update(
        planned_through=utc_today() - timedelta(days=1)
    )
    alice = client_for(cast.alice)
    assert alice.get(f"{BASE}/subjects/").status_code == 200
    # The one that would answer wrongly today is planned again before the page reads it...
    assert ScheduleSummary.objects.get(subject=past).planned_through == (
        utc_today() + PLANNED_AHEAD
    )
    # ...the one that still answers right is left to the hourly job.
    assert ScheduleSummary.objects.get(subject=near).planned_through == (
        utc_today() + timedelta(days=10)
    )
    with CaptureQueriesContext(connection) as executed:
        assert alice.get(f"{BASE}/subjects/").status_code == 200
        assert alice.get(f"{BASE}/overdue/").status_code == 200
    assert [
        query["sql"][:80]
        for query in executed.captured_queries
        if not query["sql"].lstrip().upper().startswith("SELECT")
    ] == []
    assert schedule_rebuild(study=cast.study, stale_only=True) == 1  # the job's share
