"""`ctcae_grade()` in rules: the published CTCAE v5.0 table through both evaluators, the
located errors of a rule naming an unknown term or unit, and a study that is refused at load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carnet.core.ctcae import ANALYTES, TERMS, TERMS_BY_CODE, ctcae_grade, terms_named
from carnet.expressions import (
    ExpressionCheckError,
    Symbol,
    SymbolTable,
    check,
    evaluate,
    evaluate_frame,
    parse,
)
from carnet.studies.definition import study_text_validate
from tests.laboratory.test_ctcae import TABLE

SYMBOLS = SymbolTable(
    [
        Symbol.for_item("plt", "decimal"),
        Symbol.for_item("plt_lln", "decimal"),
        Symbol.for_item("plt_uln", "decimal"),
        Symbol.for_item("base", "decimal"),
        Symbol.for_item("count", "integer"),
        Symbol.for_item("name", "text"),
        Symbol.for_item("grades", "decimal", repeating=True),
    ]
)
KEYS = ("plt", "plt_lln", "plt_uln", "base")


def both(text: str, rows: list[dict[str, Any]]) -> list[Any]:
    """Return the results of ``text`` on each row, after checking both evaluators agree."""
    checked = check(parse(text), SYMBOLS)
    by_row = [evaluate(checked, row) for row in rows]
    frame = pl.DataFrame(
        {key: [row.get(key) for row in rows] for key in KEYS},
        schema=dict.fromkeys(KEYS, pl.Float64),
    )
    by_column = evaluate_frame(checked, frame).to_list()
    assert by_row == by_column, (text, by_row, by_column)
    return by_row


@pytest.mark.parametrize(("term", "unit", "uln", "lln", "baseline", "value", "grade"), TABLE)
def test_a_rule_grades_the_published_table_in_both_evaluators(
    term: str,
    unit: str,
    uln: float | None,
    lln: float | None,
    baseline: float | None,
    value: float,
    grade: int,
) -> None:
    row = {"plt": value, "plt_lln": lln, "plt_uln": uln, "base": baseline}
    text = (
        f'ctcae_grade("{term}", plt, plt_lln, plt_uln, base, "{unit}")'
        if unit
        else (f'ctcae_grade("{term}", plt, plt_lln, plt_uln, base)')
    )
    assert both(text, [row]) == [grade]


def test_a_rule_on_platelets_fires_alike_in_both_evaluators() -> None:
    rows = [
        {"plt": value, "plt_lln": 150.0, "plt_uln": 400.0, "base": None}
        for value in (20.0, 24.9, 25.0, 49.0, 50.0, 120.0, 500.0)
    ] + [{"plt": None, "plt_lln": 150.0, "plt_uln": 400.0, "base": None}]
    fires = both('ctcae_grade("platelets", plt, plt_lln, plt_uln) >= 3', rows)
    assert fires == [True, True, True, True, False, False, False, None]
    by_term = both('ctcae_grade("platelet_count_decreased", plt, plt_lln, plt_uln)', rows)
    assert by_term == [4, 4, 3, 3, 2, 1, 0, None]


def test_an_analyte_is_graded_on_each_of_its_terms() -> None:
    rows = [
        {"plt": value, "plt_lln": 3.5, "plt_uln": 5.0, "base": None} for value in (2.4, 4.0, 7.2)
    ]
    assert both('ctcae_grade("potassium", plt, plt_lln, plt_uln)', rows) == [4, 0, 4]
    # Without the LLN hypokalemia cannot tell: a normal value's grade is unknown.
    rows = [{"plt": 4.0, "plt_lln": None, "plt_uln": 5.0, "base": None}]
    assert both('ctcae_grade("potassium", plt, plt_lln, plt_uln)', rows) == [None]


def test_a_value_in_another_unit_is_converted() -> None:
    # Creatinine 250 µmol/L, ULN 100: 2.5 x ULN is grade 2; >3.0 x a baseline of 60 is grade 3.
    rows = [{"plt": 250.0, "plt_lln": 40.0, "plt_uln": 100.0, "base": 60.0}]
    assert both('ctcae_grade("creatinine", plt, plt_lln, plt_uln, base, "umol/L")', rows) == [3]
    assert both('ctcae_grade("creatinine", plt, plt_lln, plt_uln, missing, "umol/L")', rows) == [2]


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        (
            'ctcae_grade("platelet", plt, plt_lln, plt_uln) >= 3',
            "no CTCAE term or analyte is named 'platelet'",
            13,
        ),
        (
            "ctcae_grade(name, plt, plt_lln, plt_uln)",
            "needs a quoted CTCAE term or analyte first",
            13,
        ),
        ('ctcae_grade("platelets", name, plt_lln, plt_uln)', "needs numbers, not a text value", 26),
        ('ctcae_grade("creatinine", plt, 1, 2, 3, "furlong")', "the unit 'furlong' is not one", 41),
        ('ctcae_grade("platelets", plt, 1, 2, 3, "mg/dL")', "platelets: cannot convert from", 40),
        ('ctcae_grade("platelets", plt)', "ctcae_grade() takes 4 to 6 arguments, not 2", 1),
    ],
)
def test_a_wrong_rule_is_refused_where_it_is_written(text: str, message: str, column: int) -> None:
    with pytest.raises(ExpressionCheckError) as raised:
        check(parse(text), SYMBOLS)
    (problem,) = raised.value.problems
    assert message in problem.message
    assert problem.position.column == column


def test_a_study_naming_an_unknown_term_is_refused_at_load() -> None:
    fixture = Path(__file__).parents[1] / "studies" / "fixtures" / "mini.yaml"
    text = fixture.read_text()
    assert 'expression: "sbp > dbp"' in text
    planted = text.replace(
        'expression: "sbp > dbp"', "expression: \"ctcae_grade('platelet', sbp, 150, 400) >= 3\"", 1
    )
    definition, findings = study_text_validate(planted, name="planted.yaml")
    assert definition is None
    (finding,) = [finding for finding in findings if finding.severity == "error"]
    assert finding.path == "forms[0].checks[0].expression"
    assert finding.line == text[: text.index('expression: "sbp > dbp"')].count("\n") + 1
    assert "no CTCAE term or analyte is named 'platelet'" in finding.message

    valid = text.replace(
        'expression: "sbp > dbp"', "expression: \"ctcae_grade('platelets', sbp, 150, 400) < 3\"", 1
    )
    definition, findings = study_text_validate(valid, name="valid.yaml")
    assert definition is not None, [str(finding) for finding in findings]


GRADED_NAMES = sorted({*(term.code for term in TERMS), *ANALYTES})
amounts = st.one_of(
    st.none(),
    st.floats(min_value=0, max_value=20, allow_nan=False).map(lambda value: round(value, 2)),
    st.floats(min_value=0, max_value=600, allow_nan=False).map(lambda value: round(value, 1)),
)
limits = st.fixed_dictionaries(dict.fromkeys(KEYS, amounts))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(GRADED_NAMES), st.data())
def test_the_row_and_column_evaluators_grade_alike(name: str, data: st.DataObject) -> None:
    units = sorted({unit for term in terms_named(name) for unit in term.units})
    unit = data.draw(st.sampled_from([None, *units]))
    rows = data.draw(st.lists(limits, min_size=1, max_size=8))
    text = f'ctcae_grade("{name}", plt, plt_lln, plt_uln, base'
    text += f', "{unit}")' if unit else ")"
    results = both(text, rows)
    # And the same grade as the laboratory's own function.
    for row, result in zip(rows, results, strict=True):
        if row["plt"] is None:
            assert result is None
        elif len(terms_named(name)) == 1:
            expected = ctcae_grade(
                name if name in TERMS_BY_CODE else terms_named(name)[0],
                row["plt"],
                unit=unit or "",
                lln=row["plt_lln"],
                uln=row["plt_uln"],
                baseline=row["base"],
            )
            assert result == expected
