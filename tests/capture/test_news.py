"""The date of last news of a deceased subject: the day of death, whatever is dated later.

A captured date after the death is not news of a living patient: it is a mistake in one of the
two dates, so it is flagged on its item, where site staff and the data manager see it, and left
out of the date of last news (which the overall survival analysis reads)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from django.utils import translation

from carnet.capture.models import CheckResult
from carnet.capture.selectors import casebook, form_state
from carnet.capture.services import form_save
from carnet.subjects.models import Subject
from carnet.subjects.services import subject_change_status, subject_last_news_refresh
from tests.capture.conftest import Capture

pytestmark = pytest.mark.django_db

DIED_ON = date(2026, 2, 20)


def save(c: Capture, base: int | None, **values: Any):  # type: ignore[no-untyped-def]
    return form_save(
        actor=c.entry, subject=c.subject, event="baseline", form="vitals", base_version=base,
        values=values,
    )  # fmt: skip


def die(c: Capture, on: date = DIED_ON) -> None:
    c.subject = subject_change_status(actor=c.entry, subject=c.subject, status="deceased", on=on)


def last_news(c: Capture) -> date:
    return Subject.objects.get(pk=c.subject.pk).last_news_on


def flags(c: Capture) -> list[tuple[list[str], str]]:
    return [
        (check.items, check.message_en)
        for check in CheckResult.objects.filter(form_instance__subject=c.subject, open=True)
    ]


def test_a_date_entered_before_the_death_was_recorded_is_flagged_and_not_news(
    capture: Capture,
) -> None:
    save(capture, None, weight=70, vs_date="2026-03-02")
    assert last_news(capture) == date(2026, 3, 2)
    die(capture)
    assert last_news(capture) == DIED_ON
    assert flags(capture) == [
        (
            ["vs_date"],
            "2026-03-02 is after the death of the subject (2026-02-20): check both dates. "
            "It does not count as news.",
        )
    ]


def test_a_date_after_death_saved_later_is_flagged_until_it_is_corrected(
    capture: Capture,
) -> None:
    die(capture)
    first = save(capture, None, weight=70, vs_date="2026-03-02")
    assert last_news(capture) == DIED_ON
    assert [items for items, _message in flags(capture)] == [["vs_date"]]
    # Saving the form again without touching the date keeps the flag: it is not a study check
    # that the save recomputes.
    second = save(capture, first.form_instance.version, weight=71)
    assert [items for items, _message in flags(capture)] == [["vs_date"]]
    save(capture, second.form_instance.version, vs_date="2026-02-18")
    assert flags(capture) == []
    assert last_news(capture) == DIED_ON
    assert CheckResult.objects.filter(open=False, check_name="carnet:after_death").count() == 1


def test_the_flag_is_shown_on_the_form_and_counted_in_the_casebook_in_both_languages(
    capture: Capture,
) -> None:
    save(capture, None, weight=70, vs_date="2026-03-02")
    die(capture)
    state = form_state(
        capture.monitor, capture.subject, event="baseline", occurrence=1, form="vitals"
    )
    [check] = state["checks"]
    assert check.items == ["vs_date"]
    assert check.message_fr == (
        "La date 2026-03-02 est postérieure au décès du patient (2026-02-20) : vérifiez les "
        "deux dates. Elle ne compte pas comme nouvelle du patient."
    )
    with translation.override("en"):
        grid = casebook(capture.monitor, capture.subject)
    cells = [cell for column in grid.columns for cell in column.cells if cell]
    assert [c.open_checks for c in cells if c.form == "vitals" and c.event == "baseline"] == [1]


def test_a_recount_of_a_deceased_subject_gives_the_day_of_death(capture: Capture) -> None:
    save(capture, None, weight=70, vs_date="2026-02-10")
    die(capture)
    assert subject_last_news_refresh(Subject.objects.get(pk=capture.subject.pk)) == DIED_ON
    assert flags(capture) == []
