"""Checking expressions against the study: every error found, each with its position."""

import pytest

from carnet.expressions import ExpressionCheckError, Symbol, SymbolTable, ValueType, check, parse
from tests.expressions.study import SYMBOLS, checked


def problems(text, expected=None):
    with pytest.raises(ExpressionCheckError) as caught:
        check(parse(text), SYMBOLS, expected=expected)
    return [(problem.position.column, problem.message) for problem in caught.value.problems]


def test_an_unknown_item_is_refused_with_its_position():
    assert problems("age > 18 and wieght > 40") == [(14, "no item is named 'wieght'")]


def test_every_error_is_reported_in_text_order_not_only_the_first():
    found = problems("wieght > 1 or age + initials > 2 or foo(1)")
    assert [column for column, _ in found] == [1, 15, 37]
    assert "cannot apply +" in found[1][1]
    assert "no function is named 'foo'" in found[2][1]


def test_a_position_carries_line_column_and_offset():
    with pytest.raises(ExpressionCheckError) as caught:
        check(parse("age > 18\n  and wieght > 1"), SYMBOLS)
    (problem,) = caught.value.problems
    assert (problem.position.line, problem.position.column, problem.position.offset) == (2, 7, 15)
    assert problem.end_offset == 21


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('age > "18"', "cannot compare a integer value with a text value"),
        ("weight and pregnant", "needs a condition"),
        ("birth_date + visit_date", "cannot apply +"),
        ("days_between(age, visit_date)", "needs dates"),
        ("symptoms = 1", "use contains()"),
        ("if(pregnant, 1, initials)", "must have one type"),
        ("is_missing(lesion_diameter)", "repeating group"),
        ("round(weight, cycles)", "whole number of digits"),
        ("sex = 3", "3 is not a code of sex (1, 2)"),
        ('histology in ("adeno", "small cell")', "'small cell' is not a code of histology"),
        ("contains(symptoms, 7)", "7 is not a code of symptoms"),
        ("contains(sex, 1)", "needs a multiple-choice item"),
        ("coalesce(1)", "takes 2 to 50 arguments"),
    ],
)
def test_type_mismatches_are_refused(text, says):
    (found,) = problems(text)
    assert says in found[1]


def test_an_aggregate_over_a_non_repeating_item_is_refused():
    assert problems("sum(weight) > 1") == [
        (5, "weight is not in a repeating group, so sum() has nothing to aggregate")
    ]


def test_a_repeating_item_must_be_aggregated():
    assert problems("lesion_diameter > 10") == [
        (
            1,
            "lesion_diameter is in a repeating group: use sum, count, min or max over it,"
            " or count() of a condition on it",
        )
    ]


def test_qualified_references_are_checked_against_events_and_forms():
    assert problems("fu.height > 1") == [(1, "height is not collected at event fu")]
    assert problems("screening.age > 1") == [(1, "no event is named 'screening'")]
    assert problems("baseline.labs.age > 1") == [(1, "no form is named 'labs'")]


def test_a_rule_must_give_the_type_its_use_needs():
    assert problems("weight * 2", expected=ValueType.BOOLEAN) == [
        (1, "the expression gives a decimal value, not a condition (true or false)")
    ]
    assert check(parse("age * 2"), SYMBOLS, expected=ValueType.DECIMAL).type == ValueType.INTEGER


def test_a_calculated_item_reads_as_its_declared_result_type():
    symbols = SymbolTable([Symbol.for_item("bmi", "calculated", result_type="decimal")])
    assert check(parse("bmi + 1"), symbols).type == ValueType.DECIMAL
    with pytest.raises(ValueError, match="result type"):
        Symbol.for_item("bmi", "calculated")


def test_a_single_choice_item_reads_as_its_codes():
    assert Symbol.for_item("sex", "single_choice", codes=[1, 2]).type == ValueType.INTEGER
    assert Symbol.for_item("arm", "single_choice", codes=["A", "B"]).type == ValueType.TEXT


def test_count_of_a_condition_is_a_whole_number():
    assert checked("count(lesion_diameter >= 10) > 2").type == ValueType.BOOLEAN
    assert checked("count(lesion_diameter >= 10)").type == ValueType.INTEGER


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "count(lesion_diameter > 1 and lesion_volume > 1)",
            [
                (
                    7,
                    "count() of a condition reads one item of a repeating group,"
                    " not lesion_diameter, lesion_volume",
                )
            ],
        ),
        (
            "count(lesion_diameter > age)",
            [
                (
                    25,
                    "count() of a condition compares the rows of one repeating item with"
                    " constants, not with age",
                )
            ],
        ),
        ("count(1 > 2)", [(7, "count() of a condition needs an item of a repeating group")]),
        (
            "count(lesion_diameter + 1)",
            [(7, "count() of several rows needs a condition (true or false), not a integer value")],
        ),
        (
            "count(count(lesion_diameter > 1) > 1)",
            [(7, "count() of a condition cannot hold another one")],
        ),
    ],
)
def test_count_of_a_condition_is_refused_where_it_cannot_run_by_rows(text, expected):
    assert problems(text) == expected
