"""Captured dates are news of the subject: a visit, an examination or a phone call entered in a
form moves the date of last news forward (never a date in the future)."""

from __future__ import annotations

from datetime import date

from django.db.models import Max

from carnet.capture.models import ItemValue
from carnet.subjects.models import Subject
from carnet.subjects.services import register_news_source, site_today


def latest_captured_date(subject: Subject) -> date | None:
    """Return the latest date captured for the subject, up to today at their site."""
    latest: date | None = ItemValue.objects.filter(
        form_instance__subject=subject, removed=False, day__lte=site_today(subject.site)
    ).aggregate(latest=Max("day"))["latest"]
    return latest


def register() -> None:
    register_news_source(latest_captured_date)
