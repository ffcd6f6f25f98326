"""Schedule: occurrences from anchors and actual dates, window statuses, overdue and campaigns."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import time_machine

from carnet.studies.definition.model import Event, Repeat, Schedule, StudyDefinition, Window
from carnet.subjects.schedule import SubjectDates, WindowStatus, subject_schedule, window_status
from carnet.subjects.selectors import (
    follow_up_campaign,
    months_before,
    overdue_list,
    subject_list,
    subject_summary,
)
from carnet.subjects.services import news_record, subject_settings_set, visit_record
from tests.subjects.conftest import Cast, include


def definition(*events: Event) -> StudyDefinition:
    from carnet.studies.definition.model import Label

    return StudyDefinition(
        identifier="T", oid="T", title=Label("T"), phase="II", sponsor="S", events=events
    )


BASELINE = Event("E1", "baseline", None, (), Schedule("inclusion", 0, Window(7, 0)))  # type: ignore[arg-type]
CYCLE = Event(
    "E2",
    "cycle",
    None,  # type: ignore[arg-type]
    (),
    Schedule("event:baseline", 14, Window(2, 3), Repeat(every_days=14, start="previous")),
)


@pytest.mark.parametrize(
    ("today", "done_on", "status"),
    [
        (date(2025, 1, 7), None, WindowStatus.UPCOMING),
        (date(2025, 1, 8), None, WindowStatus.DUE),
        (date(2025, 1, 13), None, WindowStatus.DUE),
        (date(2025, 1, 14), None, WindowStatus.OVERDUE),
        (date(2025, 1, 20), date(2025, 1, 13), WindowStatus.DONE),
        (date(2025, 1, 20), date(2025, 1, 14), WindowStatus.OUT_OF_WINDOW),
    ],
)
def test_a_window_is_upcoming_due_overdue_done_or_out_of_window(
    today: date, done_on: date | None, status: WindowStatus
) -> None:
    # Target 10 January, window 2 days before and 3 after.
    assert (
        window_status(date(2025, 1, 10), date(2025, 1, 8), date(2025, 1, 13), done_on, today)
        == status
    )


def test_a_delayed_cycle_shifts_the_cycles_after_it() -> None:
    dates = SubjectDates(
        inclusion=date(2025, 1, 1),
        visits={"baseline": {1: date(2025, 1, 1)}, "cycle": {1: date(2025, 1, 20)}},
    )
    occurrences = subject_schedule(definition(BASELINE, CYCLE), dates, today=date(2025, 1, 25))
    cycles = [(o.number, o.target, o.done_on, o.status) for o in occurrences if o.event == "cycle"]
    assert cycles == [
        # Due 15 January (baseline + 14), done five days late.
        (1, date(2025, 1, 15), date(2025, 1, 20), WindowStatus.OUT_OF_WINDOW),
        # Counted from the actual date of cycle 1, not from its target.
        (2, date(2025, 2, 3), None, WindowStatus.UPCOMING),
    ]


def test_nothing_is_scheduled_after_the_subject_leaves_or_before_its_anchor() -> None:
    randomised = Event("E3", "week4", None, (), Schedule("randomisation", 28))  # type: ignore[arg-type]
    dates = SubjectDates(inclusion=date(2025, 1, 1), follow_up_ends=date(2025, 1, 20))
    occurrences = subject_schedule(
        definition(BASELINE, CYCLE, randomised), dates, today=date(2025, 6, 1)
    )
    assert [(o.event, o.number) for o in occurrences] == [("baseline", 1), ("cycle", 1)]


def test_treatment_cycles_stop_at_the_end_of_treatment() -> None:
    dates = SubjectDates(
        inclusion=date(2025, 1, 1),
        end_of_treatment=date(2025, 1, 10),
        treatment_events=frozenset({"cycle"}),
        visits={"baseline": {1: date(2025, 1, 1)}},
    )
    occurrences = subject_schedule(definition(BASELINE, CYCLE), dates, today=date(2025, 6, 1))
    assert [o.event for o in occurrences] == ["baseline"]


def test_months_before_keeps_the_day_or_takes_the_last_of_a_shorter_month() -> None:
    assert months_before(date(2025, 6, 16), 6) == date(2024, 12, 16)
    assert months_before(date(2025, 3, 31), 1) == date(2025, 2, 28)
    assert months_before(date(2025, 1, 15), 13) == date(2023, 12, 15)


def test_the_overdue_list_shows_a_patient_whose_visit_window_has_passed(cast: Cast) -> None:
    subject = include(cast, on=date(2025, 6, 2))
    visit_record(actor=cast.alice, subject=subject, event="baseline", visit_on=date(2025, 6, 2))
    # Cycle 1 is due on 16 June (window 14 to 19 June): due today, not yet overdue.
    summary = subject_summary(subject)
    assert summary.next_visit is not None
    assert (summary.next_visit.event, summary.next_visit.status) == ("cycle", WindowStatus.DUE)
    assert overdue_list(cast.alice, study=cast.study).rows == []
    with time_machine.travel(datetime(2025, 6, 21, 10, 0, tzinfo=UTC), tick=False):
        rows = overdue_list(cast.alice, study=cast.study).rows
        assert [(r.subject.identifier, r.occurrence.event, r.days_overdue) for r in rows] == [
            ("01-001", "cycle", 2)
        ]
        assert [
            s.subject.identifier
            for s in subject_list(cast.alice, study=cast.study, overdue=True).rows
        ] == ["01-001"]
        # Site B's staff do not see site A's patient.
        assert overdue_list(cast.bea, study=cast.study).rows == []
        visit_record(actor=cast.alice, subject=subject, event="cycle", visit_on=date(2025, 6, 21))
        assert overdue_list(cast.alice, study=cast.study).rows == []


def test_the_overdue_list_stops_counting_at_its_limit_and_still_pages(
    cast: Cast, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A study of 10,000 patients may hold tens of thousands of overdue visits: the page says
    # "more than N" instead of counting them all, and its pages still go on.
    from carnet.subjects import selectors

    monkeypatch.setattr(selectors, "OVERDUE_COUNT_LIMIT", 1)
    for day in (2, 3, 4):
        subject = include(cast, on=date(2025, 6, day))
        visit_record(
            actor=cast.alice, subject=subject, event="baseline", visit_on=date(2025, 6, day)
        )
    with time_machine.travel(datetime(2025, 7, 30, 10, 0, tzinfo=UTC), tick=False):
        everything = overdue_list(cast.alice, study=cast.study)
        assert len(everything.rows) >= 3
        assert not everything.capped
        first = overdue_list(cast.alice, study=cast.study, per_page=1)
        assert (first.capped, first.total, first.has_next) == (True, 1, True)
        second = overdue_list(cast.alice, study=cast.study, per_page=1, page=2)
        assert second.number == 2
        assert second.rows
        assert second.rows != first.rows
        # The longest overdue comes first.
        assert first.rows[0].days_overdue >= second.rows[0].days_overdue


def test_cycles_marked_as_treatment_events_stop_being_due_once_treatment_stops(cast: Cast) -> None:
    from carnet.subjects.services import subject_change_treatment

    subject_settings_set(
        actor=cast.dana,
        study=cast.study,
        central_eligibility_review=False,
        identity_vault=False,
        treatment_events=["cycle"],
    )
    subject = include(cast, on=date(2025, 6, 2))
    visit_record(actor=cast.alice, subject=subject, event="baseline", visit_on=date(2025, 6, 2))
    subject_change_treatment(
        actor=cast.alice,
        subject=subject,
        status="off_treatment",
        on=date(2025, 6, 3),
        reason="toxicity",
    )
    with time_machine.travel(datetime(2025, 6, 25, 10, 0, tzinfo=UTC), tick=False):
        assert overdue_list(cast.alice, study=cast.study).rows == []


def test_the_campaign_lists_subjects_without_news_for_n_months_per_site(cast: Cast) -> None:
    old = include(cast, on=date(2025, 1, 10))
    recent = include(cast, on=date(2025, 1, 12))
    news_record(actor=cast.alice, subject=recent, news_on=date(2025, 5, 1), source="GP letter")
    at_b = include(cast, actor=cast.bea, site=cast.site_b, on=date(2025, 1, 5))
    campaign = follow_up_campaign(cast.dana, study=cast.study, months=3, on=date(2025, 6, 1))
    assert [(s.identifier, s.last_news_on) for s in campaign] == [
        (old.identifier, date(2025, 1, 10)),
        (at_b.identifier, date(2025, 1, 5)),
    ]
    only_a = follow_up_campaign(
        cast.dana, study=cast.study, months=3, on=date(2025, 6, 1), site="01"
    )
    assert [s.identifier for s in only_a] == [old.identifier]
    assert [
        s.identifier
        for s in follow_up_campaign(cast.bea, study=cast.study, months=3, on=date(2025, 6, 1))
    ] == [at_b.identifier]


def test_the_date_of_last_news_is_the_latest_dated_record(cast: Cast) -> None:
    subject = include(cast, on=date(2025, 6, 2))
    news_record(actor=cast.alice, subject=subject, news_on=date(2025, 6, 12), source="phone")
    visit_record(
        actor=cast.alice, subject=subject, event="adverse_events", visit_on=date(2025, 6, 8)
    )
    subject.refresh_from_db()
    assert subject.last_news_on == date(2025, 6, 12)
    occurrences = subject_summary(subject)
    assert occurrences.next_visit is not None


# --- issue 14: schedules end when treatment and life end --------------------------------------

SCREENING = Event(
    "E0",
    "screening",
    None,  # type: ignore[arg-type]
    (),
    Schedule("inclusion", -28, Window(0, 28)),
)


def test_nothing_is_awaited_after_death_and_what_was_due_before_is_missed() -> None:
    # Cycle 1 due 15 January, cycle 2 (from its actual date) 3 February; died 5 February.
    dates = SubjectDates(
        inclusion=date(2025, 1, 1),
        follow_up_ends=date(2025, 2, 5),
        visits={"baseline": {1: date(2025, 1, 1)}, "cycle": {1: date(2025, 1, 20)}},
    )
    occurrences = subject_schedule(definition(BASELINE, CYCLE), dates, today=date(2025, 6, 1))
    assert [(o.event, o.number, o.status) for o in occurrences] == [
        ("baseline", 1, WindowStatus.DONE),
        ("cycle", 1, WindowStatus.OUT_OF_WINDOW),
        ("cycle", 2, WindowStatus.MISSED),  # not overdue: nobody chases the dead
    ]


def test_a_cycle_whose_window_was_open_at_the_end_of_treatment_is_not_overdue() -> None:
    # Cycle 1 done 15 January; cycle 2 due 29 January (window 27 January to 1 February);
    # treatment stopped on 30 January.
    dates = SubjectDates(
        inclusion=date(2025, 1, 1),
        end_of_treatment=date(2025, 1, 30),
        treatment_events=frozenset({"cycle"}),
        visits={"baseline": {1: date(2025, 1, 1)}, "cycle": {1: date(2025, 1, 15)}},
    )
    occurrences = subject_schedule(definition(BASELINE, CYCLE), dates, today=date(2025, 6, 1))
    cycles = [(o.number, o.status) for o in occurrences if o.event == "cycle"]
    assert cycles == [(1, WindowStatus.DONE), (2, WindowStatus.MISSED)]
    assert not any(o.open for o in occurrences)


def test_a_new_patient_has_no_overdue_screening_visit() -> None:
    # Included on 10 March, registered on the 13th: screening (D-28 to D0) took place.
    dates = SubjectDates(inclusion=date(2025, 3, 10))
    occurrences = subject_schedule(definition(SCREENING), dates, today=date(2025, 3, 13))
    assert [(o.event, o.status) for o in occurrences] == [("screening", WindowStatus.DONE)]


def test_a_stored_schedule_answers_as_one_planned_for_the_day() -> None:
    from carnet.subjects.schedule import planned_occurrences, schedule_on

    follow_up = Event(
        "E9",
        "follow_up",
        None,  # type: ignore[arg-type]
        (),
        Schedule("inclusion", 91, Window(14, 14), Repeat(every_days=91, start="anchor")),
    )
    dates = SubjectDates(
        inclusion=date(2025, 1, 1),
        visits={"baseline": {1: date(2025, 1, 1)}, "follow_up": {1: date(2025, 4, 2)}},
    )
    study = definition(BASELINE, CYCLE, follow_up)
    stored = planned_occurrences(study, dates, through=date(2027, 1, 1))
    for today in (date(2025, 1, 1), date(2025, 5, 20), date(2025, 9, 30), date(2026, 6, 1)):
        assert schedule_on(stored, today=today) == subject_schedule(study, dates, today=today)


def test_the_subject_page_the_list_and_the_overdue_list_agree_after_death(cast: Cast) -> None:
    from carnet.subjects.selectors import subject_occurrences
    from carnet.subjects.services import subject_change_status

    subject = include(cast, on=date(2025, 6, 2))
    visit_record(actor=cast.alice, subject=subject, event="cycle", visit_on=date(2025, 6, 2))
    with time_machine.travel(datetime(2025, 7, 10, 10, 0, tzinfo=UTC), tick=False):
        # Cycles 2 and 3 were due 16 and 30 June: overdue everywhere alike.
        assert [o.number for o in subject_summary(subject).overdue] == [2, 3]
        listed = overdue_list(cast.alice, study=cast.study)
        assert [(r.occurrence.event, r.occurrence.number) for r in listed] == [
            ("cycle", 2),
            ("cycle", 3),
        ]
        (row,) = subject_list(cast.alice, study=cast.study)
        assert [o.number for o in row.overdue] == [2, 3]
        subject_change_status(
            actor=cast.alice, subject=subject, status="deceased", on=date(2025, 7, 1)
        )
        statuses = {o.status for o in subject_occurrences(subject)}
        assert WindowStatus.OVERDUE not in statuses
        assert WindowStatus.MISSED in statuses
        assert subject_summary(subject).overdue == []
        assert list(overdue_list(cast.alice, study=cast.study)) == []
        (row,) = subject_list(cast.alice, study=cast.study)
        assert row.overdue == []
        assert row.next_visit is None
