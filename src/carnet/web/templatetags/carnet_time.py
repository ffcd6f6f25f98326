"""Dates and times as people read them.

A date (an inclusion, a visit, a consent) is shown in the one format of the reader's language,
``{{ subject.included_on|day }}``: the language's ``DATE_FORMAT`` in `carnet.config.formats`,
ISO 8601 (2026-05-18) in French and English alike, as the date fields take dates and as every
refusal and export writes them.

A stored UTC moment is shown as the local time of a site, with the zone's abbreviation
("2026-05-18 14:03 CEST"), so that nobody mistakes UTC for local time:
``{{ event.at|site_time:subject.site }}``. The argument says whose clock: a study site or a
centre (its time zone), a zone name, or nothing (the server's zone, UTC unless configured).
"""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django import template
from django.utils import formats, timezone

register = template.Library()


def zone_of(where: Any) -> tzinfo:
    """Return the time zone of a study site, a centre or a zone name; the server's otherwise."""
    centre = getattr(where, "centre", None)
    name = getattr(centre if centre is not None else where, "time_zone", where)
    if isinstance(name, str) and name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass  # a zone the system does not know: the server's clock rather than an error page
    return timezone.get_current_timezone()


def local_time_text(moment: datetime | str | None, where: Any = None) -> str:
    """Return the moment as local time at ``where`` with the zone: "2026-05-18 14:03 CEST"."""
    if moment is None or moment == "":
        return ""
    if isinstance(moment, str):
        text = moment
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return text  # not a time: shown as it came
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, ZoneInfo("UTC"))  # stored times are UTC
    local = moment.astimezone(zone_of(where))
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


@register.filter
def site_time(moment: datetime | str | None, where: Any = None) -> str:
    """``{{ moment|site_time:site }}``: the moment in the site's local time, with its zone."""
    return local_time_text(moment, where)


def day_text(value: date | datetime | str | None) -> str:
    """Return a date in the format of the active language ("" for none)."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        text = value
        try:
            value = date.fromisoformat(text[:10])
        except ValueError:
            return text  # not a date (a partial one, a code): shown as it came
    if isinstance(value, datetime):
        value = timezone.localdate(value) if timezone.is_aware(value) else value.date()
    return formats.date_format(value, "DATE_FORMAT")


@register.filter
def day(value: date | datetime | str | None) -> str:
    """``{{ value|day }}``: the date in the one format of the reader's language."""
    return day_text(value)
