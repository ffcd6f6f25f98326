"""Captured dates are news of the subject: a visit, an examination or a phone call entered in a
form moves the date of last news forward (never a date in the future, never past a death).

A date captured after the subject's death contradicts it: one of the two dates is wrong. Such a
value is not news; it carries an open check on its item (the form shows it next to the item, the
casebook counts it) until someone corrects the date, or the value is removed."""

from __future__ import annotations

from datetime import date

from django.db.models import Max
from django.utils import translation
from django.utils.translation import gettext as _

from carnet.capture.models import CheckResult, ItemValue
from carnet.capture.seams import (
    OWN_CHECK_PREFIX,
    WriteContext,
    WriteKind,
    register_save_listener,
)
from carnet.core.clock import utc_now
from carnet.db.bulk import rows_insert
from carnet.subjects.models import Subject
from carnet.subjects.services import (
    register_news_source,
    site_today,
    subject_last_news_advance,
    subject_last_news_refresh,
)
from carnet.subjects.statuses import StudyStatus

# The check of a date after death: one of Carnet's own (OWN_CHECK_PREFIX), so the study's own
# checks can neither take nor close it.
AFTER_DEATH_CHECK = OWN_CHECK_PREFIX + "after_death"


def latest_captured_date(subject: Subject) -> date | None:
    """Return the latest date captured for the subject, up to today at their site."""
    latest: date | None = ItemValue.objects.filter(
        form_instance__subject=subject, removed=False, day__lte=site_today(subject.site)
    ).aggregate(latest=Max("day"))["latest"]
    return latest


def _after_death_messages(day: date, died_on: date) -> tuple[str, str]:
    """Return the flag's sentence in English and in French."""
    words = {"date": day.isoformat(), "died": died_on.isoformat()}
    messages = []
    for language in ("en", "fr"):
        with translation.override(language):
            messages.append(
                _(
                    "%(date)s is after the death of the subject (%(died)s): check both dates. "
                    "It does not count as news."
                )
                % words
            )
    return messages[0], messages[1]


def captured_dates_after_death_flag(subject: Subject, died_on: date) -> None:
    """Open a check on every captured date after the subject's death; close those that are not."""
    wanted: dict[tuple[int, str, int, str], tuple[str, str]] = {}
    for instance_id, item, row, day in ItemValue.objects.filter(
        form_instance__subject=subject, removed=False, day__gt=died_on
    ).values_list("form_instance_id", "item", "row", "day"):
        assert day is not None  # the filter keeps dated values only
        english, french = _after_death_messages(day, died_on)
        wanted[(instance_id, item, row, english)] = (english, french)
    stale = []
    for flag in CheckResult.objects.filter(
        form_instance__subject=subject, check_name=AFTER_DEATH_CHECK, open=True
    ):
        key = (flag.form_instance_id, flag.items[0], flag.row, flag.message_en)
        if wanted.pop(key, None) is None:
            stale.append(flag.pk)
    if stale:
        CheckResult.objects.filter(pk__in=stale).update(open=False, closed_at=utc_now())
    rows_insert(
        [
            CheckResult(
                form_instance_id=instance_id,
                check_name=AFTER_DEATH_CHECK,
                row=row,
                items=[item],
                message_en=english,
                message_fr=french,
            )
            for (instance_id, item, row, _english), (english, french) in wanted.items()
        ]
    )


def last_news_on_save(context: WriteContext) -> None:
    """Count the dates a save changed as news of the subject (a listener of every write).

    Dates only added can only move the date of last news forward (one UPDATE); a date changed
    or removed needs a recount, and so does any save of a deceased subject's data (whose dates
    after the death are flagged, never news)."""
    if context.kind not in (WriteKind.SAVE, WriteKind.FILE):
        return  # a change of status only: no date changed
    subject = context.subject
    moved_back = any(c.old is not None and c.old.day is not None for c in context.changes)
    if moved_back or subject.study_status == StudyStatus.DECEASED:
        subject_last_news_refresh(subject)
        context.open_checks.extend(
            CheckResult.objects.filter(
                form_instance=context.form_instance, check_name=AFTER_DEATH_CHECK, open=True
            )
        )
        return
    added = [
        c.new.day
        for c in context.changes
        if c.new.day is not None and c.new.day <= context.today and not c.new.removed
    ]
    if added:
        subject_last_news_advance(subject, max(added))


def register() -> None:
    register_news_source(latest_captured_date, after_death=captured_dates_after_death_flag)
    register_save_listener(last_news_on_save)
