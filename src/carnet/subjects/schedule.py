"""Compute a subject's event occurrences, their windows and their status on a given day.

Pure functions on the study definition and a few dates: no database. An occurrence is due
``offset_days`` after its anchor (inclusion, randomisation, end of treatment, or the actual date
of another event); a repeating event "from previous" counts from the actual date of the previous
occurrence when it took place, so a delayed cycle shifts the ones after it.

Two steps, so that lists can keep the first in the database and work out the second in SQL:
`planned_occurrences` gives everything that does not depend on the day (targets, windows, what
took place, what is no longer awaited); `schedule_on` gives each occurrence its status on a day.
`subject_schedule` is both; the subject page, the lists and the counts all go through it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum

from carnet.studies.definition.model import Event, StudyDefinition

# Repeating events without a maximum are projected this many occurrences past today, no further.
PROJECTED_AHEAD = 1
# A safety net against a schedule that never reaches today (every_days is at least 1).
MAX_OCCURRENCES = 1000


class WindowStatus(StrEnum):
    UPCOMING = "upcoming"  # the window has not opened
    DUE = "due"  # the window is open
    OVERDUE = "overdue"  # the window has closed and the visit has not taken place
    DONE = "done"  # the visit took place within its window (or before inclusion, see Settled)
    OUT_OF_WINDOW = "out_of_window"  # the visit took place outside its window
    UNSCHEDULED = "unscheduled"  # an unscheduled event that took place
    MISSED = "missed"  # not done, and no longer awaited: treatment ended or the subject left


class Settled(StrEnum):
    """Why an occurrence without a visit date is no longer awaited, whatever the day."""

    OPEN = ""  # still awaited: upcoming, due or overdue depending on the day
    # Its window closed by the inclusion (screening): including the patient is the proof it
    # took place, so it is never overdue, even when its date is not recorded yet.
    BEFORE_INCLUSION = "before_inclusion"
    # Due on or before the end of treatment (a treatment event) or the day the subject left
    # (death, end of study, withdrawal from follow-up), and not done: nobody chases it.
    MISSED = "missed"


@dataclass(frozen=True)
class Planned:
    """One occurrence as the schedule plans it, before the day gives it a status."""

    event: str
    number: int
    target: date | None  # None for an unscheduled event
    earliest: date | None
    latest: date | None
    done_on: date | None
    settled: Settled = Settled.OPEN
    # The event repeats without a maximum: only its first occurrence after today is shown.
    unbounded: bool = False

    @property
    def awaited(self) -> bool:
        """Return whether the visit is still to take place (whatever the day)."""
        return self.target is not None and self.done_on is None and self.settled == Settled.OPEN


@dataclass(frozen=True)
class Occurrence:
    event: str
    number: int
    target: date | None  # None for an unscheduled event
    earliest: date | None
    latest: date | None
    done_on: date | None
    status: WindowStatus

    @property
    def open(self) -> bool:
        """Return whether the visit is still to take place."""
        return self.status in {WindowStatus.UPCOMING, WindowStatus.DUE, WindowStatus.OVERDUE}


@dataclass(frozen=True)
class SubjectDates:
    """What a schedule needs to know of a subject."""

    inclusion: date
    randomisation: date | None = None
    end_of_treatment: date | None = None
    # Nothing is expected after this date (the subject left the study, died, withdrew).
    follow_up_ends: date | None = None
    # These events are not expected after the end of treatment (treatment cycles).
    treatment_events: frozenset[str] = frozenset()
    # Actual dates: event name -> {occurrence number: date}.
    visits: Mapping[str, Mapping[int, date]] = field(default_factory=dict)


def window_status(
    target: date, earliest: date, latest: date, done_on: date | None, today: date
) -> WindowStatus:
    """Return the status of one occurrence on ``today``."""
    if done_on is not None:
        return WindowStatus.DONE if earliest <= done_on <= latest else WindowStatus.OUT_OF_WINDOW
    if today < earliest:
        return WindowStatus.UPCOMING
    if today <= latest:
        return WindowStatus.DUE
    return WindowStatus.OVERDUE


def occurrence_status(planned: Planned, today: date) -> WindowStatus:
    """Return the status of a planned occurrence on ``today``."""
    if planned.target is None:
        return WindowStatus.UNSCHEDULED
    assert planned.earliest is not None
    assert planned.latest is not None
    if planned.done_on is None and planned.settled == Settled.MISSED:
        return WindowStatus.MISSED
    if planned.done_on is None and planned.settled == Settled.BEFORE_INCLUSION:
        return WindowStatus.DONE
    return window_status(planned.target, planned.earliest, planned.latest, planned.done_on, today)


def subject_schedule(
    definition: StudyDefinition, dates: SubjectDates, *, today: date
) -> list[Occurrence]:
    """Return every occurrence of the subject's events on ``today``, in date order."""
    return schedule_on(planned_occurrences(definition, dates, through=today), today=today)


def schedule_on(planned: Sequence[Planned], *, today: date) -> list[Occurrence]:
    """Return the occurrences shown on ``today``: each with its status, and of an event that
    repeats without end only what took place and the next one to come.

    ``planned`` may reach further than ``today`` (a stored schedule does): the answer is the
    same as for a schedule planned through ``today``."""
    shown: list[Occurrence] = []
    projected: dict[str, int] = {}
    for p in sorted(planned, key=lambda p: (p.event, p.number)):
        if p.unbounded and p.awaited and p.earliest is not None and p.earliest > today:
            projected[p.event] = projected.get(p.event, 0) + 1
            if projected[p.event] > PROJECTED_AHEAD:
                continue
        shown.append(
            Occurrence(
                p.event,
                p.number,
                p.target,
                p.earliest,
                p.latest,
                p.done_on,
                occurrence_status(p, today),
            )
        )
    return sorted(shown, key=lambda o: (o.done_on or o.target or date.max, o.event, o.number))


def planned_occurrences(
    definition: StudyDefinition, dates: SubjectDates, *, through: date
) -> list[Planned]:
    """Return every occurrence of the subject's events, planned far enough that an event
    repeating without end has one occurrence still to come after ``through``."""
    occurrences: dict[str, list[Planned]] = {}
    # Events anchored on another event need that one first; definitions are small, so resolve
    # by passes rather than sorting a graph (the study validator refuses cycles).
    pending = [event for event in definition.events if not event.unscheduled]
    for _ in range(len(pending) + 1):
        still: list[Event] = []
        for event in pending:
            anchor_event = event.schedule.anchor_event if event.schedule else None
            if anchor_event is not None and anchor_event not in occurrences:
                still.append(event)
                continue
            occurrences[event.name] = _event_occurrences(event, dates, occurrences, through)
        pending = still
        if not pending:
            break
    result = [occurrence for event in occurrences.values() for occurrence in event]
    for event in definition.events:
        if event.unscheduled:
            for number, done_on in sorted(dates.visits.get(event.name, {}).items()):
                result.append(Planned(event.name, number, None, None, None, done_on))
    return result


def _anchor_date(
    event: Event, dates: SubjectDates, occurrences: Mapping[str, Sequence[Planned]]
) -> date | None:
    assert event.schedule is not None
    anchor = event.schedule.anchor
    if anchor == "inclusion":
        return dates.inclusion
    if anchor == "randomisation":
        return dates.randomisation
    if anchor == "end_of_treatment":
        return dates.end_of_treatment
    first = occurrences.get(event.schedule.anchor_event or "", [])
    if not first or first[0].number != 1:
        return None
    # The actual date when the anchoring visit took place, its target until then.
    return first[0].done_on or first[0].target


def _stop(event: Event, dates: SubjectDates) -> date | None:
    """Return the last day on which the event may still be expected, if there is one."""
    stop = dates.follow_up_ends
    if event.name in dates.treatment_events and dates.end_of_treatment is not None:
        stop = min(stop, dates.end_of_treatment) if stop else dates.end_of_treatment
    return stop


def _event_occurrences(
    event: Event,
    dates: SubjectDates,
    occurrences: Mapping[str, Sequence[Planned]],
    through: date,
) -> list[Planned]:
    schedule = event.schedule
    if schedule is None:
        return []
    anchor = _anchor_date(event, dates, occurrences)
    if anchor is None:
        return []  # not scheduled yet: its anchor has not happened
    done = dates.visits.get(event.name, {})
    # A visit recorded with a higher number is shown even when the ones before it are not.
    last_done = max(done, default=0)
    stop = _stop(event, dates)
    repeat = schedule.repeat
    unbounded = repeat is not None and repeat.max_occurrences is None
    limit = 1 if repeat is None else (repeat.max_occurrences or MAX_OCCURRENCES)
    result: list[Planned] = []
    first_target = anchor + timedelta(days=schedule.offset_days)
    # The previous occurrence's actual date, its target until then ("from previous").
    previous = first_target
    projected_after = 0
    for number in range(1, limit + 1):
        if number == 1:
            target = first_target
        else:
            assert repeat is not None
            if repeat.start == "previous":
                target = previous + timedelta(days=repeat.every_days)
            else:
                target = first_target + timedelta(days=repeat.every_days * (number - 1))
        done_on = done.get(number)
        previous = done_on or target
        earliest = target - timedelta(days=schedule.window.before)
        latest = target + timedelta(days=schedule.window.after)
        settled = Settled.OPEN
        if done_on is None:
            if stop is not None and target > stop:
                # Due after treatment ended or the subject left: not expected at all.
                if number > last_done:
                    break
                continue
            if stop is not None:
                settled = Settled.MISSED
            elif latest <= dates.inclusion:
                settled = Settled.BEFORE_INCLUSION
        result.append(
            Planned(
                event.name, number, target, earliest, latest, done_on, settled, unbounded=unbounded
            )
        )
        if done_on is None and settled == Settled.OPEN and earliest > through:
            projected_after += 1
            if unbounded and projected_after >= PROJECTED_AHEAD and number >= last_done:
                break
    return result


def next_visit(occurrences: Sequence[Occurrence]) -> Occurrence | None:
    """Return the first occurrence still to take place (overdue ones first), if any."""
    waiting = [o for o in occurrences if o.open and o.target is not None]
    return min(waiting, key=lambda o: (o.target, o.event, o.number)) if waiting else None


def overdue(occurrences: Sequence[Occurrence]) -> list[Occurrence]:
    """Return the occurrences whose window has closed without the visit: the ones to chase."""
    return [o for o in occurrences if o.status == WindowStatus.OVERDUE]
