"""The scale study's outcomes (demo/scale_outcomes.py): what a patient's course holds."""

from __future__ import annotations

from datetime import date, timedelta

from carnet.demo.scale_outcomes import Casebook, rando_number, story_of
from carnet.demo.synthetic import Lesion
from carnet.subjects.models import Subject

INCLUDED = date(2025, 4, 1)


def _book(number: int = 7) -> Casebook:
    return Casebook(
        Subject(included_on=INCLUDED, screening_number=f"SC{number:06d}"),
        number,
        ecog=0,
        lesions={1: Lesion(1, False, 40), 2: Lesion(3, True, 22)},
        cycles={n: INCLUDED + timedelta(days=1 + 14 * (n - 1)) for n in range(1, 15)},
    )


def test_the_allocation_number_goes_on_the_form_while_it_has_four_digits() -> None:
    assert rando_number(1) == "R0001"
    assert rando_number(9_999) == "R9999"
    # MAINTAIN-CRC's item is R and 4 digits: the 10,000th allocation does not fit.
    assert rando_number(10_000) is None


def test_an_allocation_number_that_does_not_fit_leaves_the_randomisation_form_as_it_is() -> None:
    last_day = date(2026, 11, 21)
    numbered = story_of(_book(), arm="placebo", number="R0007", last_day=last_day)
    unnumbered = story_of(_book(), arm="placebo", number=None, last_day=last_day)
    assert numbered.forms[0] == ("baseline", 1, 1, "randomisation", {"rando_number": "R0007"}, {})
    assert numbered.forms[1:] == unnumbered.forms
    assert all(form[3] != "randomisation" for form in unnumbered.forms)


def test_a_patient_s_course_follows_the_order_of_the_statuses() -> None:
    story = story_of(_book(), arm="experimental", number="R0007", last_day=date(2026, 11, 21))
    days = [day for day, _track, _status, _reason in story.statuses]
    assert days == sorted(days)
    assert story.statuses[0][:3] == (INCLUDED + timedelta(days=1), "treatment", "on_treatment")
    assert story.statuses[1][2] == "off_treatment"
    # Nothing is dated after the death (the first pass's cycles end before it).
    deaths = [f[4]["death_date"] for f in story.forms if f[4].get("surv_status") == 2]
    dated = [v for f in story.forms for v in f[4].values() if isinstance(v, date)]
    assert not deaths or max(dated) == deaths[0]
