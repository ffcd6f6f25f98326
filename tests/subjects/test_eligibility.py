"""Eligibility criteria read the values a registration gives, whatever shape the wizard sends.

ACC-209 (examples/studies/simon-phase2.yaml) asks for at least one measurable target lesion:
`count(screening.bl_tl_diam) >= 1`, an aggregate over the rows of a repeating group. The wizard
asks for the diameter in one field, so it sends one number where the rule reads a list of rows.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from carnet.demo import examples_dir
from carnet.studies.definition import study_file_read
from carnet.subjects.eligibility import evaluate_criteria

ELIGIBLE: dict[str, Any] = {
    "screening.age": 58,
    "screening.incl_histology": 1,
    "screening.incl_recurrent": 1,
    "screening.progression_date": "2026-10-02",
    "screening.consent_date": "2026-11-16",
    "screening.ecog_ps": 0,
    "screening.incl_organ_function": 1,
    "screening.incl_social_security": 1,
    "screening.excl_prior_inhibitor": 0,
    "screening.excl_brain_mets": 0,
    "screening.excl_qtc": 0,
    "screening.excl_pregnancy": 0,
    "screening.excl_legal_protection": 0,
}


def measurable(diameters: Any) -> bool:
    definition = study_file_read(examples_dir() / "simon-phase2.yaml").definition
    results = evaluate_criteria(
        definition,
        {**ELIGIBLE, "screening.bl_tl_diam": diameters},
        clock=lambda: date(2026, 11, 20),
    )
    return next(result for result in results if result.name == "in_measurable").met


@pytest.mark.parametrize("diameters", [21, "21", [24, 17]], ids=["number", "text", "rows"])
def test_a_repeating_item_given_as_one_value_counts_as_one_row(diameters: Any) -> None:
    assert measurable(diameters) is True


def test_a_repeating_item_given_as_no_rows_fails_the_count() -> None:
    assert measurable([]) is False
