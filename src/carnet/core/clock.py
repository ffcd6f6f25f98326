"""The current time, in one place, so that tests and the expression language can fix it."""

from datetime import UTC, date, datetime


def utc_now() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


def utc_today() -> date:
    """Return today's date in UTC."""
    return utc_now().date()
