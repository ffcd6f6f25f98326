"""The CTR's clocks at their boundaries: day of awareness is day 0, calendar days (weekends
count), 7 days (+8 for the follow-up) for fatal or life-threatening SUSARs, 15 otherwise; the
investigator's 24 hours."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from carnet.safety.clocks import clock_state, site_due_at, site_late, susar_clock


@pytest.mark.parametrize(
    ("aware_on", "fatal", "due", "follow_up"),
    [
        # Friday 5 March 2027: a weekend inside the 7 days changes nothing.
        (date(2027, 3, 5), True, date(2027, 3, 12), date(2027, 3, 20)),
        (date(2027, 3, 5), False, date(2027, 3, 20), None),
        # Awareness on a Saturday: day 0 is the Saturday; the due day may be a Saturday.
        (date(2027, 3, 6), True, date(2027, 3, 13), date(2027, 3, 21)),
        # Across the end of February.
        (date(2027, 2, 20), False, date(2027, 3, 7), None),
    ],
)
def test_susar_due_dates_count_calendar_days_from_day_0(
    aware_on: date, fatal: bool, due: date, follow_up: date | None
) -> None:
    clock = susar_clock(aware_on, fatal_or_life_threatening=fatal)
    assert clock.due_on == due
    assert clock.follow_up_due_on == follow_up


def test_the_clock_is_due_on_the_last_day_and_overdue_the_day_after() -> None:
    due = date(2027, 3, 12)
    assert clock_state(due, None, date(2027, 3, 9)) == "running"
    assert clock_state(due, None, date(2027, 3, 10)) == "due-soon"
    assert clock_state(due, None, due) == "due-soon"
    assert clock_state(due, None, due + timedelta(days=1)) == "overdue"
    assert clock_state(due, date(2027, 3, 12), due + timedelta(days=5)) == "done"
    assert clock_state(None, None, due) == ""


def test_the_site_has_24_hours_to_the_minute() -> None:
    aware = datetime(2027, 3, 5, 17, 30, tzinfo=UTC)  # a Friday evening
    assert site_due_at(aware) == datetime(2027, 3, 6, 17, 30, tzinfo=UTC)
    assert not site_late(aware, datetime(2027, 3, 6, 17, 30, tzinfo=UTC))
    assert site_late(aware, datetime(2027, 3, 6, 17, 30, 1, tzinfo=UTC))
