"""Compute a subject's event occurrences, their windows and their status on a given day.

Pure functions on the study definition and a few dates: no database. An occurrence is due
``offset_days`` after its anchor (inclusion, randomisation, end of treatment, or the actual date
of another event); a repeating event "from previous" counts from the actual date of the previous
occurrence when it took place, so a delayed cycle shifts the ones after it.
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
    DONE = "done"  # the visit took place within its window
    OUT_OF_WINDOW = "out_of_window"  # the visit took place outside its window
    UNSCHEDULED = "unscheduled"  # an unscheduled event that took place


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
    # Nothing is scheduled after this date (the subject left the study, died, withdrew).
    follow_up_ends: date | None = None
    # These events are not scheduled after the end of treatment (treatment cycles).
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


def subject_schedule(
    definition: StudyDefinition, dates: SubjectDates, *, today: date
) -> list[Occurrence]:
    """Return every occurrence of the subject's events, in date order."""
    occurrences: dict[str, list[Occurrence]] = {}
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
            occurrences[event.name] = _event_occurrences(event, dates, occurrences, today)
        pending = still
        if not pending:
            break
    result = [occurrence for event in occurrences.values() for occurrence in event]
    for event in definition.events:
        if event.unscheduled:
            for number, done_on in sorted(dates.visits.get(event.name, {}).items()):
                result.append(
                    Occurrence(
                        event.name, number, None, None, None, done_on, WindowStatus.UNSCHEDULED
                    )
                )
    return sorted(result, key=lambda o: (o.done_on or o.target or date.max, o.event, o.number))


def _anchor_date(
    event: Event, dates: SubjectDates, occurrences: Mapping[str, Sequence[Occurrence]]
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
    if not first:
        return None
    # The actual date when the anchoring visit took place, its target until then.
    return first[0].done_on or first[0].target


def _event_occurrences(
    event: Event,
    dates: SubjectDates,
    occurrences: Mapping[str, Sequence[Occurrence]],
    today: date,
) -> list[Occurrence]:
    schedule = event.schedule
    if schedule is None:
        return []
    anchor = _anchor_date(event, dates, occurrences)
    if anchor is None:
        return []  # not scheduled yet: its anchor has not happened
    done = dates.visits.get(event.name, {})
    stop = dates.follow_up_ends
    if event.name in dates.treatment_events and dates.end_of_treatment is not None:
        stop = min(stop, dates.end_of_treatment) if stop else dates.end_of_treatment
    repeat = schedule.repeat
    limit = 1 if repeat is None else (repeat.max_occurrences or MAX_OCCURRENCES)
    result: list[Occurrence] = []
    target = anchor + timedelta(days=schedule.offset_days)
    projected_after_today = 0
    for number in range(1, limit + 1):
        if number > 1:
            assert repeat is not None
            if repeat.start == "previous":
                previous = result[-1]
                target = (previous.done_on or previous.target or target) + timedelta(
                    days=repeat.every_days
                )
            else:
                target = (
                    anchor
                    + timedelta(days=schedule.offset_days)
                    + timedelta(days=repeat.every_days * (number - 1))
                )
        done_on = done.get(number)
        earliest = target - timedelta(days=schedule.window.before)
        latest = target + timedelta(days=schedule.window.after)
        if done_on is None and stop is not None and earliest > stop:
            break
        status = window_status(target, earliest, latest, done_on, today)
        result.append(Occurrence(event.name, number, target, earliest, latest, done_on, status))
        if done_on is None and earliest > today:
            projected_after_today += 1
            unbounded = repeat is not None and repeat.max_occurrences is None
            if unbounded and projected_after_today >= PROJECTED_AHEAD:
                break
    return result


def next_visit(occurrences: Sequence[Occurrence]) -> Occurrence | None:
    """Return the first occurrence still to take place (overdue ones first), if any."""
    waiting = [o for o in occurrences if o.open and o.target is not None]
    return min(waiting, key=lambda o: (o.target, o.event, o.number)) if waiting else None
