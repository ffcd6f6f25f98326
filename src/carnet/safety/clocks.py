"""The reporting clocks of the EU Clinical Trials Regulation (536/2014, art. 41-42), without
Django: pure functions of dates and times, tested at their boundaries.

- The investigator reports a serious adverse event to the sponsor within 24 hours of becoming
  aware of it (art. 41(4)); adverse events of special interest and pregnancies within the
  limit the protocol sets (24 hours unless the study declares another).
- The sponsor reports a SUSAR to EudraVigilance within 7 days for a fatal or life-threatening
  one, with a follow-up within 8 more days, and within 15 days otherwise (art. 42(2)). The day
  the sponsor became aware is day 0; days are calendar days (weekends and holidays count).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

SITE_LIMIT = timedelta(hours=24)
FATAL_DAYS = 7
FATAL_FOLLOW_UP_DAYS = 8
OTHER_DAYS = 15
# Reminders go out this many days before a due date (and on the due date itself).
REMIND_DAYS_BEFORE = 2


def site_due_at(aware_at: datetime, hours: int = 24) -> datetime:
    """Return when the investigator's initial report is due: 24 hours after awareness for an
    SAE; an AESI or a pregnancy report within the hours the study declares."""
    return aware_at + timedelta(hours=hours)


def site_late(aware_at: datetime, sent_at: datetime, hours: int = 24) -> bool:
    """Return whether a report sent at ``sent_at`` missed its limit."""
    return sent_at > site_due_at(aware_at, hours)


@dataclass(frozen=True)
class SusarClock:
    """The due dates of a SUSAR: the report, and for a fatal or life-threatening one its
    follow-up (None otherwise)."""

    due_on: date
    follow_up_due_on: date | None


def susar_clock(aware_on: date, *, fatal_or_life_threatening: bool) -> SusarClock:
    """Return the SUSAR's due dates, counting ``aware_on`` as day 0 in calendar days."""
    if fatal_or_life_threatening:
        due = aware_on + timedelta(days=FATAL_DAYS)
        return SusarClock(due, due + timedelta(days=FATAL_FOLLOW_UP_DAYS))
    return SusarClock(aware_on + timedelta(days=OTHER_DAYS), None)


def days_left(due_on: date, today: date) -> int:
    """Return the days from today to the due date (0 on the day, negative once overdue)."""
    return (due_on - today).days


def clock_state(due_on: date | None, done_on: date | None, today: date) -> str:
    """Return "done", "overdue", "due-soon" or "running" (or "" without a clock)."""
    if due_on is None:
        return ""
    if done_on is not None:
        return "done"
    left = days_left(due_on, today)
    if left < 0:
        return "overdue"
    if left <= REMIND_DAYS_BEFORE:
        return "due-soon"
    return "running"
