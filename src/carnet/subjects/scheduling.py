"""Keep each subject's planned schedule stored, so lists work in SQL whatever the study's size.

`schedule_refresh` is called by every service that changes what the schedule reads (inclusion,
eligibility review, statuses, withdrawals, visit dates, the study's treatment events);
`schedule_rebuild` plans a whole study again (after a new study version is published, or when the
stored schedules near the end of what they planned). Both write derived rows only: no audit
event, since nothing clinical changes; `carnet schedule rebuild` goes through
`subjects.services.study_schedules_rebuild`, which records who asked for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Q

from carnet.core.clock import utc_today
from carnet.studies.definition.model import StudyDefinition
from carnet.studies.models import Study
from carnet.subjects.models import (
    PlannedVisit,
    ScheduleSummary,
    Subject,
    SubjectSettings,
    Visit,
    Withdrawal,
)
from carnet.subjects.schedule import Planned, SubjectDates, planned_occurrences
from carnet.subjects.statuses import ACTIVE, StudyStatus, WithdrawalKind

# How far ahead an event repeating without end is planned. The stored schedule answers for any
# day up to then; `schedule_rebuild(stale_only=True)` plans again the subjects close to the end.
PLANNED_AHEAD = timedelta(days=730)
# A stored schedule this close to the end of what it planned is stale.
STALE_WITHIN = timedelta(days=60)
BATCH = 500


def _treatment_events(study: Study) -> frozenset[str]:
    found = SubjectSettings.objects.filter(study=study).first()
    return frozenset(found.treatment_events if found else ())


def _follow_up_ends(subject: Subject, withdrawn_on: date | None) -> date | None:
    """Return the day after which nothing is expected of the subject, if there is one."""
    ends = None
    if subject.study_status not in ACTIVE and subject.study_status != StudyStatus.SCREENED:
        ends = subject.study_status_on  # death, end of study, withdrawal, screen failure
    if withdrawn_on is not None:
        ends = min(ends or withdrawn_on, withdrawn_on)
    return ends


def _dates(
    subject: Subject,
    visits: Iterable[tuple[str, int, date]],
    withdrawn_on: date | None,
    treatment_events: frozenset[str],
) -> SubjectDates:
    by_event: dict[str, dict[int, date]] = {}
    for event, number, day in visits:
        by_event.setdefault(event, {})[number] = day
    return SubjectDates(
        inclusion=subject.included_on,
        randomisation=subject.randomised_on,
        end_of_treatment=subject.end_of_treatment_on,
        follow_up_ends=_follow_up_ends(subject, withdrawn_on),
        treatment_events=treatment_events,
        visits=by_event,
    )


def subject_dates(subject: Subject) -> SubjectDates:
    """Return what the schedule needs to know of a subject."""
    withdrawn = (
        subject.withdrawals.filter(kind=WithdrawalKind.FOLLOW_UP)
        .order_by("withdrawn_on")
        .values_list("withdrawn_on", flat=True)
        .first()
    )
    return _dates(
        subject,
        subject.visits.values_list("event", "occurrence", "visit_on"),
        withdrawn,
        _treatment_events(subject.study),
    )


def _definition(study: Study) -> StudyDefinition | None:
    return study.current_version.parsed() if study.current_version else None


# The columns of a planned visit, in the order `_rows` gives them.
_PLANNED_COLUMNS = (
    "subject_id",
    "study_id",
    "event",
    "number",
    "target",
    "earliest",
    "latest",
    "done_on",
    "settled",
    "unbounded",
)


def _rows(subject: Subject, planned: Sequence[Planned]) -> list[tuple[Any, ...]]:
    day = connection.ops.adapt_datefield_value
    return [
        (
            subject.pk,
            subject.study_id,
            p.event,
            p.number,
            day(p.target),
            day(p.earliest),
            day(p.latest),
            day(p.done_on),
            p.settled.value,
            p.unbounded,
        )
        for p in planned
    ]


def _planned_insert(rows: list[tuple[Any, ...]]) -> None:
    """Insert planned visits with one prepared statement run over every row.

    Not `bulk_create`: a study's rebuild writes about 70 rows a subject (700,000 at 10,000
    subjects), and building a model instance and preparing each of its fields in Python cost
    three quarters of the rebuild's time, more than planning and the INSERTs together.
    """
    if not rows:
        return
    quote = connection.ops.quote_name
    columns = ", ".join(quote(column) for column in _PLANNED_COLUMNS)
    marks = ", ".join(["%s"] * len(_PLANNED_COLUMNS))
    table = quote(PlannedVisit._meta.db_table)
    with connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)  # noqa: S608


def _summary(subject: Subject, study: Study, planned: Sequence[Planned]) -> ScheduleSummary:
    awaited = [p for p in planned if p.awaited]
    following = min(awaited, key=lambda p: (p.target, p.event, p.number), default=None)
    return ScheduleSummary(
        subject_id=subject.pk,
        study_version_id=study.current_version_id,
        planned_through=utc_today() + PLANNED_AHEAD,
        next_event=following.event if following else "",
        next_number=following.number if following else None,
        next_target=following.target if following else None,
        next_earliest=following.earliest if following else None,
        next_latest=following.latest if following else None,
        first_awaited_latest=min((p.latest for p in awaited if p.latest), default=None),
    )


def _plan(dates: SubjectDates, definition: StudyDefinition | None) -> list[Planned]:
    if definition is None:
        return []
    return planned_occurrences(definition, dates, through=utc_today() + PLANNED_AHEAD)


# The subjects whose schedule waits for the end of `schedules_planned_once` (None: not in one).
_WAITING: ContextVar[set[int] | None] = ContextVar("schedules_waiting", default=None)


@contextmanager
def schedules_planned_once() -> Iterator[None]:
    """Within, `schedule_refresh` notes the subject; on leaving, each subject noted is planned
    once, from what is recorded then, inside the caller's transaction.

    For a transaction that tells a patient's story at once (the demo, a migration): inclusion,
    visits, treatment and randomisation each changed what the schedule reads, and each planned
    it again. Nothing in such a story reads the stored schedule. On an error nothing is planned:
    the transaction is rolled back."""
    if _WAITING.get() is not None:
        yield  # already within one: the outer one plans
        return
    waiting: set[int] = set()
    token = _WAITING.set(waiting)
    try:
        yield
    finally:
        _WAITING.reset(token)
    for subject in Subject.objects.select_related("study").filter(pk__in=waiting).order_by("pk"):
        _schedule_store(subject)


def schedule_refresh(*, subject: Subject) -> None:
    """Plan the subject's schedule again from what is recorded now, and store it (or, within
    `schedules_planned_once`, when it ends)."""
    waiting = _WAITING.get()
    if waiting is not None:
        waiting.add(subject.pk)
        return
    _schedule_store(subject)


@transaction.atomic
def _schedule_store(subject: Subject) -> None:
    study = subject.study
    planned = _plan(subject_dates(subject), _definition(study))
    PlannedVisit.objects.filter(subject=subject).delete()
    _planned_insert(_rows(subject, planned))
    summary = _summary(subject, study, planned)
    ScheduleSummary.objects.update_or_create(
        subject=subject,
        defaults={
            f.attname: getattr(summary, f.attname)
            for f in ScheduleSummary._meta.concrete_fields
            if f.attname not in {"subject_id", "refreshed_at"}
        },
    )


def _stale(study: Study, within: timedelta = STALE_WITHIN) -> Q:
    """Return the condition of the study's subjects whose stored schedule is behind: none yet,
    another version's, or planned through a day less than ``within`` from today."""
    return (
        Q(schedule_summary__isnull=True)
        | ~Q(schedule_summary__study_version_id=study.current_version_id)
        | Q(schedule_summary__planned_through__lt=utc_today() + within)
    )


def schedule_rebuild(*, study: Study, stale_only: bool = False, wrong_only: bool = False) -> int:
    """Plan again the schedules of a study's subjects (only the stale ones if asked), a batch of
    subjects per transaction; return how many were planned.

    ``wrong_only`` plans again only the schedules that would answer wrongly today (none, another
    version's, or planned through a day already past), as a page does before it reads them: one
    whose plan merely nears its end still answers right, and the hourly `schedules_refresh` job
    plans it again, so that a page never plans a whole study at once (the 10,000 schedules of a
    large study all near the end of their plan on the same day: 40 s and more of writes).
    """
    definition = _definition(study)
    treatment_events = _treatment_events(study)
    subjects = Subject.objects.filter(study=study)
    if stale_only or wrong_only:
        subjects = subjects.filter(_stale(study, timedelta(0) if wrong_only else STALE_WITHIN))
    ids = list(subjects.order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(ids), BATCH):
        _rebuild_batch(study, ids[start : start + BATCH], definition, treatment_events)
    return len(ids)


@transaction.atomic
def _rebuild_batch(
    study: Study,
    ids: list[int],
    definition: StudyDefinition | None,
    treatment_events: frozenset[str],
) -> None:
    visits: dict[int, list[tuple[str, int, date]]] = {pk: [] for pk in ids}
    for pk, event, number, day in Visit.objects.filter(subject_id__in=ids).values_list(
        "subject_id", "event", "occurrence", "visit_on"
    ):
        visits[pk].append((event, number, day))
    withdrawn: dict[int, date] = {}
    for pk, day in Withdrawal.objects.filter(
        subject_id__in=ids, kind=WithdrawalKind.FOLLOW_UP
    ).values_list("subject_id", "withdrawn_on"):
        withdrawn[pk] = min(withdrawn.get(pk, day), day)
    rows: list[tuple[Any, ...]] = []
    summaries: list[ScheduleSummary] = []
    for subject in Subject.objects.filter(pk__in=ids):
        dates = _dates(subject, visits[subject.pk], withdrawn.get(subject.pk), treatment_events)
        planned = _plan(dates, definition)
        rows.extend(_rows(subject, planned))
        summaries.append(_summary(subject, study, planned))
    PlannedVisit.objects.filter(subject_id__in=ids).delete()
    ScheduleSummary.objects.filter(subject_id__in=ids).delete()
    _planned_insert(rows)
    ScheduleSummary.objects.bulk_create(summaries, batch_size=BATCH)
