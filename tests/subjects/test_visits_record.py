"""Visits recorded together (`visits_record`, the demo's path): the same visits, audit events,
date of last news and schedule as `visit_record` one after another, and all or nothing."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import transaction

from carnet.audit.models import AuditEvent
from carnet.core.errors import ValidationError
from carnet.subjects.models import PlannedVisit, Subject
from carnet.subjects.scheduling import schedules_planned_once
from carnet.subjects.services import visit_record, visits_record
from tests.subjects.conftest import Cast, include

VISITS = [
    ("baseline", date(2025, 6, 2), None),
    ("cycle", date(2025, 6, 9), None),
    ("cycle", date(2025, 6, 12), None),
]


def _state(subject: Subject) -> tuple[object, ...]:
    subject.refresh_from_db()
    return (
        list(subject.visits.order_by("pk").values_list("event", "occurrence", "visit_on")),
        list(
            AuditEvent.objects.filter(action="subject.visit_recorded", target_id=str(subject.pk))
            .order_by("seq")
            .values_list("new", flat=True)
        ),
        subject.last_news_on,
        list(
            PlannedVisit.objects.filter(subject=subject)
            .order_by("event", "number")
            .values_list("event", "number", "target", "done_on", "settled")
        ),
    )


def test_visits_recorded_together_give_what_one_after_another_gives(cast: Cast) -> None:
    one = include(cast, on=date(2025, 6, 2))
    for event, on, occurrence in VISITS:
        visit_record(actor=cast.alice, subject=one, event=event, visit_on=on, occurrence=occurrence)
    two = include(cast, on=date(2025, 6, 2))
    created = visits_record(actor=cast.alice, subject=two, visits=VISITS)
    assert [(v.event, v.occurrence) for v in created] == [
        ("baseline", 1),
        ("cycle", 1),
        ("cycle", 2),
    ]
    assert _state(one) == _state(two)


def test_one_refused_visit_records_none_of_them(cast: Cast) -> None:
    subject = include(cast, on=date(2025, 6, 2))
    events = AuditEvent.objects.count()
    with pytest.raises(ValidationError, match=r"cycle #1 is already recorded"):
        visits_record(
            actor=cast.alice,
            subject=subject,
            visits=[*VISITS, ("cycle", date(2025, 6, 13), 1)],
        )
    assert not subject.visits.exists()
    assert AuditEvent.objects.count() == events


def test_a_story_planned_once_at_its_end_gives_the_schedule_planned_at_each_step(
    cast: Cast,
) -> None:
    one = include(cast, on=date(2025, 6, 2))
    for event, on, occurrence in VISITS:
        visit_record(actor=cast.alice, subject=one, event=event, visit_on=on, occurrence=occurrence)
    with transaction.atomic(), schedules_planned_once():
        two = include(cast, on=date(2025, 6, 2))
        for event, on, occurrence in VISITS:
            visit_record(
                actor=cast.alice, subject=two, event=event, visit_on=on, occurrence=occurrence
            )
        # Nothing is planned until the story ends.
        assert not PlannedVisit.objects.filter(subject=two).exists()
    assert PlannedVisit.objects.filter(subject=two).exists()
    assert _state(one) == _state(two)


def _story_failing(cast: Cast, subject: Subject) -> None:
    with transaction.atomic(), schedules_planned_once():
        visit_record(actor=cast.alice, subject=subject, event="baseline", visit_on=date(2025, 6, 2))
        visit_record(actor=cast.alice, subject=subject, event="nowhere", visit_on=date(2025, 6, 3))


def test_a_story_that_fails_plans_nothing(cast: Cast) -> None:
    subject = include(cast, on=date(2025, 6, 2))
    planned = list(PlannedVisit.objects.filter(subject=subject).values_list("pk", flat=True))
    with pytest.raises(ValidationError, match="nowhere"):
        _story_failing(cast, subject)
    assert list(PlannedVisit.objects.filter(subject=subject).values_list("pk", flat=True)) == (
        planned
    )
    assert not subject.visits.exists()
