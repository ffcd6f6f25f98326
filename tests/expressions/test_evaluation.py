"""What rules compute, run through both evaluators (row and column) on the same values."""

from datetime import date

import pytest

from carnet.expressions import EvaluationError, evaluate, to_polars
from tests.expressions.study import TODAY, both, by_columns, checked, clock


def test_arithmetic_follows_the_usual_precedence():
    assert both("1 + 2 * 3 - 4 / 2") == 5.0
    assert both("(1 + 2) * 3") == 9


def test_integer_arithmetic_stays_whole_and_division_gives_a_decimal():
    assert both("age * 2 + 1", age=20) == 41
    assert both("age / 8", age=20) == 2.5


def test_a_division_by_zero_is_missing_rather_than_an_error():
    assert both("weight / cycles", weight=70.0, cycles=0) is None


def test_a_bmi_is_computed_from_weight_and_height_and_rounded_half_away_from_zero():
    assert (
        both("round(weight / (height / 100 * (height / 100)), 1)", weight=70.0, height=175.0)
        == 22.9
    )
    assert both("round(2.25, 1)") == 2.3
    assert both("round(-2.25, 1)") == -2.3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("age > 18", None),
        ("age = 18", None),
        ("age != 18", None),
        ("age + 1", None),
        ("-age", None),
        ("not (age > 18)", None),
        ("age > 18 and false", False),
        ("age > 18 and true", None),
        ("age > 18 or true", True),
        ("age > 18 or false", None),
        ("age in (18, 19)", None),
        ("age not in (18, 19)", None),
        ("is_missing(age)", True),
        ("coalesce(age, 0)", 0),
        ("if(age > 18, 1, 2)", 2),
        ("sum(age, 3)", 3),
        ("sum(age, missing)", None),
        ("max(age, 3)", 3),
    ],
)
def test_a_missing_value_follows_the_three_valued_rules(text, expected):
    assert both(text, age=None) == expected


def test_missing_codes_read_as_missing_so_an_edit_check_does_not_fire():
    # The caller turns ND/NA/UNK into None; a check fires only when its condition is true.
    assert both("weight < 30 or weight > 250", weight=None) is not True


def test_text_comparisons_and_code_lists():
    assert both('initials = "JD"', initials="JD") is True
    assert both('histology in ("adeno")', histology="squamous") is False
    assert both("sex not in (2)", sex=1) is True


def test_dates_compare_and_move_by_whole_days():
    assert both('visit_date >= date("2024-01-01")', visit_date=date(2024, 1, 1)) is True
    assert both("visit_date + 28", visit_date=date(2024, 2, 1)) == date(2024, 2, 29)
    assert both("visit_date - 1", visit_date=date(2024, 3, 1)) == date(2024, 2, 29)
    assert (
        both("visit_date - birth_date", visit_date=date(2024, 3, 1), birth_date=date(2024, 2, 1))
        == 29
    )


def test_today_comes_from_the_injected_clock():
    assert both("today()") == TODAY
    assert evaluate(checked("today()"), {}, clock=lambda: date(2030, 1, 1)) == date(2030, 1, 1)


@pytest.mark.parametrize(
    ("birth", "on", "years"),
    [
        (date(2000, 6, 15), date(2024, 6, 15), 24),
        (date(2000, 6, 16), date(2024, 6, 15), 23),
        (date(2000, 2, 29), date(2024, 2, 28), 23),
        (date(2000, 2, 29), date(2024, 2, 29), 24),
        (date(2024, 6, 15), date(2000, 6, 16), -23),
    ],
)
def test_an_age_counts_completed_years(birth, on, years):
    assert both("years_between(birth_date, visit_date)", birth_date=birth, visit_date=on) == years


@pytest.mark.parametrize(
    ("start", "end", "months"),
    [
        (date(2024, 1, 31), date(2024, 2, 29), 0),
        (date(2024, 1, 15), date(2024, 2, 15), 1),
        (date(2024, 1, 15), date(2024, 3, 14), 1),
        (date(2024, 3, 14), date(2024, 1, 15), -1),
    ],
)
def test_months_between_counts_completed_months(start, end, months):
    assert (
        both("months_between(birth_date, visit_date)", birth_date=start, visit_date=end) == months
    )


def test_days_between_is_signed():
    assert (
        both(
            "days_between(birth_date, visit_date)",
            birth_date=date(2024, 1, 10),
            visit_date=date(2024, 1, 1),
        )
        == -9
    )


def test_aggregates_over_target_lesions_skip_missing_rows():
    diameters = [12, None, 30]
    assert both("sum(lesion_diameter)", lesion_diameter=diameters) == 42
    assert both("count(lesion_diameter)", lesion_diameter=diameters) == 2
    assert both("min(lesion_diameter)", lesion_diameter=diameters) == 12
    assert both("max(lesion_diameter)", lesion_diameter=diameters) == 30
    assert both("max(ae_onset)", ae_onset=[date(2024, 1, 2), date(2024, 3, 1)]) == date(2024, 3, 1)


def test_with_no_lesions_the_sum_is_zero_and_the_minimum_is_missing():
    for rows in ([], None):
        assert both("sum(lesion_diameter)", lesion_diameter=rows) == 0
        assert both("count(lesion_diameter)", lesion_diameter=rows) == 0
        assert both("min(lesion_diameter)", lesion_diameter=rows) is None


def test_a_multiple_choice_item_is_read_with_contains():
    assert both("contains(symptoms, 2)", symptoms={1, 2}) is True
    assert both("contains(symptoms, 3)", symptoms=set()) is False
    assert both("contains(symptoms, 3)", symptoms=None) is None


def test_baseline_and_current_weight_are_different_columns():
    expression = checked("weight < baseline.weight * 0.9")
    rows = [
        {"weight": 60.0, "baseline.weight": 70.0},
        {"weight": 65.0, "baseline.weight": 70.0},
    ]
    assert [evaluate(expression, row) for row in rows] == [True, False]
    assert by_columns(expression, rows) == [True, False]


def test_a_value_left_out_by_the_caller_is_an_error_not_a_missing_value():
    with pytest.raises(EvaluationError, match=r"baseline\.weight"):
        evaluate(checked("baseline.weight > 1"), {"weight": 1.0})


def test_an_integer_overflow_is_refused_by_the_row_evaluator():
    with pytest.raises(EvaluationError, match="64 bits"):
        evaluate(checked("age * 1000000000000000 * 1000000000000000"), {"age": 10})


def test_a_whole_study_filter_selects_the_matching_subjects():
    from tests.expressions.study import frame

    rows = [{"age": 17, "sex": 1}, {"age": 40, "sex": 2}, {"age": None, "sex": 2}]
    rule = to_polars(checked("age >= 18 and sex = 2"), clock=clock)
    eligible = frame(rows).lazy().filter(rule).collect()
    assert eligible["age"].to_list() == [40]


def test_count_of_a_condition_counts_the_rows_where_it_holds():
    # Three lesions of 12 mm or more; the missing one counts neither way.
    assert both("count(lesion_diameter >= 12)", lesion_diameter=[12, 30, None, 4, 15]) == 3
    assert both("count(lesion_diameter >= 12) >= 3", lesion_diameter=[12, 30, 15]) is True
    assert both("count(not (lesion_diameter >= 12))", lesion_diameter=[12, None, 4]) == 1


def test_count_of_a_condition_reads_each_row_with_the_usual_rules():
    assert both("count(is_missing(lesion_diameter))", lesion_diameter=[None, 3, None]) == 2
    assert (
        both(
            'count(ae_onset > date("2024-01-01") and ae_onset < today())',
            ae_onset=[date(2024, 3, 1), date(2023, 5, 1), date(2025, 1, 1)],
        )
        == 1
    )
    assert both("count(lesion_volume + 1 > 2.5)", lesion_volume=[1.0, 2.0, None]) == 1


def test_count_of_a_condition_over_no_rows_is_zero():
    assert both("count(lesion_diameter > 10)", lesion_diameter=[]) == 0
    assert both("count(lesion_diameter > 10)", lesion_diameter=None) == 0
