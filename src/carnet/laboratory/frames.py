"""CTCAE grades and L/H flags of a whole frame of laboratory values at once (Django-free).

The same bounds as `ctcae.ctcae_grade`, compiled to Polars expressions: a study's listing is
graded in one pass, never row by row in Python. Only the distinct (analyte, unit) pairs, a
handful, are looked at in Python, to find the factor to each term's unit.
"""

from __future__ import annotations

import polars as pl

from carnet.laboratory.ctcae import INCREASED, TERMS, Bound, Term, bound_set, terms_of
from carnet.laboratory.units import UnitError, conversion_factor, unit_name

# What `flagged` and `graded` read and add.
VALUE, UNIT, ANALYTE = "value", "unit", "analyte"
LOW, HIGH, BASELINE = "low", "high", "baseline"
FLAG, GRADE, TERM = "flag", "grade", "term"


def flagged(frame: pl.DataFrame) -> pl.DataFrame:
    """Return the frame with ``flag``: "L" below the range's low, "H" above its high, "" inside,
    null when the value or the range is unknown."""
    value, low, high = pl.col(VALUE), pl.col(LOW), pl.col(HIGH)
    flag = (
        pl.when(value.is_null())
        .then(pl.lit(None, dtype=pl.String))
        .when(low.is_not_null() & (value < low))
        .then(pl.lit("L"))
        .when(high.is_not_null() & (value > high))
        .then(pl.lit("H"))
        .when(low.is_null() & high.is_null())
        .then(pl.lit(None, dtype=pl.String))
        .otherwise(pl.lit(""))
    )
    return frame.with_columns(flag.alias(FLAG))


def _threshold(bound: Bound) -> pl.Expr:
    if bound.value is not None:
        return pl.lit(bound.value, dtype=pl.Float64)
    if bound.uln is not None:
        return pl.col(HIGH) * bound.uln
    if bound.lln is not None:
        return pl.col(LOW) * bound.lln
    assert bound.baseline is not None
    return pl.col(BASELINE) * bound.baseline


def _passes(bound: Bound, direction: str) -> pl.Expr:
    value, threshold = pl.col(VALUE), _threshold(bound)
    if direction == INCREASED:
        return value >= threshold if bound.inclusive else value > threshold
    return value <= threshold if bound.inclusive else value < threshold


def _chain(bounds: tuple[Bound, ...], direction: str) -> pl.Expr:
    """`ctcae.grade_on` as an expression: built from the lowest grade outwards."""
    expression: pl.Expr = pl.lit(0, dtype=pl.Int8)
    for bound in reversed(bounds):
        expression = (
            pl.when(_threshold(bound).is_null())
            .then(pl.lit(None, dtype=pl.Int8))
            .when(_passes(bound, direction))
            .then(pl.lit(bound.grade, dtype=pl.Int8))
            .otherwise(expression)
        )
    return expression


def _term_grade(term: Term, bounds: tuple[Bound, ...]) -> pl.Expr:
    """`ctcae.ctcae_grade` for one term and one set of bounds, on values already in its unit."""
    grade = _chain(bounds, term.direction)
    if term.abnormal_baseline:
        grade = (
            pl.when(pl.col(BASELINE).is_null())
            .then(grade)
            .when(pl.col(HIGH).is_null())
            .then(pl.lit(None, dtype=pl.Int8))
            .when(pl.col(BASELINE) > pl.col(HIGH))
            .then(_chain(term.abnormal_baseline, term.direction))
            .otherwise(grade)
        )
    if term.against_baseline:
        by_baseline = _chain(term.against_baseline, term.direction)
        grade = (
            pl.when(pl.col(BASELINE).is_null() | grade.is_null())
            .then(grade)
            .otherwise(pl.max_horizontal(grade, by_baseline))
        )
    return grade


def _grading_table(frame: pl.DataFrame) -> pl.DataFrame:
    """Return, for each distinct (analyte, unit) of the frame and each of its terms, the unit it
    is graded in and the factor to it; a pair that cannot be converted is left out."""
    rows: list[tuple[str, str, str, str, float]] = []
    for analyte, unit in frame.select(ANALYTE, UNIT).unique().iter_rows():
        for term in terms_of(analyte or ""):
            try:
                graded_in, _bounds = bound_set(term, unit or "")
                same = not unit or graded_in == unit_name(unit, analyte=analyte)
                factor = 1.0 if same else conversion_factor(analyte, unit, graded_in)
            except UnitError:
                continue
            rows.append(
                (analyte, unit, term.code, graded_in if "" not in term.bounds else "", factor)
            )
    return pl.DataFrame(
        rows,
        schema={
            ANALYTE: pl.String,
            UNIT: pl.String,
            "_term": pl.String,
            "_graded_in": pl.String,
            "_factor": pl.Float64,
        },
        orient="row",
    )


def _grade_expression() -> pl.Expr:
    """One expression choosing, per row, the term and bound set it is graded on."""
    expression: pl.Expr = pl.lit(None, dtype=pl.Int8)
    for term in TERMS:
        for unit, bounds in term.bounds.items():
            chosen = (pl.col("_term") == term.code) & (pl.col("_graded_in") == unit)
            expression = pl.when(chosen).then(_term_grade(term, bounds)).otherwise(expression)
    return expression


def graded(frame: pl.DataFrame) -> pl.DataFrame:
    """Return the frame with ``grade`` (CTCAE v5.0, 0-4, null when it cannot be told or the
    analyte has no term) and ``term`` (the CTCAE term of a grade above 0).

    Reads ``analyte``, ``value``, ``unit`` and the range's ``low``/``high`` and ``baseline`` in
    the value's unit (floats, nulls allowed)."""
    numbered = frame.with_row_index("_row")
    table = _grading_table(frame)
    scaled = numbered.select("_row", ANALYTE, UNIT, VALUE, LOW, HIGH, BASELINE).join(
        table, on=[ANALYTE, UNIT], how="inner", nulls_equal=True
    )
    scaled = scaled.with_columns(
        pl.col(name).cast(pl.Float64) * pl.col("_factor") for name in (VALUE, LOW, HIGH, BASELINE)
    ).filter(pl.col(VALUE).is_not_null())
    per_term = scaled.with_columns(_grade_expression().alias("_grade"))
    positive = pl.col("_grade") > 0
    per_row = per_term.group_by("_row").agg(
        pl.col("_grade").filter(positive).max().alias("_positive"),
        pl.col("_term").filter(positive).sort_by(pl.col("_grade").filter(positive)).last(),
        pl.col("_grade").is_null().any().alias("_unknown"),
    )
    per_row = per_row.select(
        "_row",
        pl.when(pl.col("_positive").is_not_null())
        .then(pl.col("_positive"))
        .when(pl.col("_unknown"))
        .then(pl.lit(None, dtype=pl.Int8))
        .otherwise(pl.lit(0, dtype=pl.Int8))
        .alias(GRADE),
        pl.col("_term").alias(TERM),
    )
    return numbered.join(per_row, on="_row", how="left").sort("_row").drop("_row")
