"""CTCAE grades and L/H flags of a whole frame of laboratory values at once (Django-free).

The same bounds as `ctcae.ctcae_grade`, compiled to Polars expressions (`core.ctcae_frames`):
a study's listing is graded in one pass, never row by row in Python. Only the distinct
(analyte, unit) pairs, a handful, are looked at in Python, to find the factor to each term's
unit.
"""

from __future__ import annotations

import polars as pl

from carnet.core.ctcae import TERMS_BY_CODE, Bound, Term, bound_set, terms_of
from carnet.core.ctcae_frames import Columns, grade_expression
from carnet.core.lab_units import UnitError, conversion_factor, unit_name

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


def _term_grade(term: Term, bounds: tuple[Bound, ...]) -> pl.Expr:
    """`ctcae.ctcae_grade` for one term and one set of bounds, on values already in its unit."""
    columns = Columns(
        value=pl.col(VALUE), lln=pl.col(LOW), uln=pl.col(HIGH), baseline=pl.col(BASELINE)
    )
    return grade_expression(term, bounds, columns)


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


def _per_term_grades(scaled: pl.DataFrame) -> pl.DataFrame:
    """Grade each row on its term and bound set: one partition per (term, unit), so each
    expression runs over its own rows only."""
    parts = []
    for part in scaled.partition_by("_term", "_graded_in", maintain_order=False):
        term = TERMS_BY_CODE[part["_term"][0]]
        bounds = term.bounds[part["_graded_in"][0]]
        parts.append(part.with_columns(_term_grade(term, bounds).alias("_grade")))
    if not parts:
        return scaled.with_columns(pl.lit(None, dtype=pl.Int8).alias("_grade"))
    return pl.concat(parts)


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
    per_term = _per_term_grades(scaled)
    # A positive grade wins (the highest); else a term that cannot tell makes the grade
    # unknown; else 0. One rank says it, and one sort keeps each row's first.
    grade = pl.col("_grade").cast(pl.Int16)
    rank = pl.when(grade > 0).then(grade + 10).when(grade.is_null()).then(5).otherwise(0)
    per_row = (
        per_term.select("_row", "_term", "_grade", rank.alias("_rank"))
        .sort("_row", "_rank", descending=[False, True])
        .unique("_row", keep="first", maintain_order=True)
        .select(
            "_row",
            pl.when(pl.col("_rank") >= 10)
            .then(pl.col("_grade"))
            .when(pl.col("_rank") == 5)
            .then(pl.lit(None, dtype=pl.Int8))
            .otherwise(pl.lit(0, dtype=pl.Int8))
            .alias(GRADE),
            pl.when(pl.col("_rank") >= 10).then(pl.col("_term")).alias(TERM),
        )
    )
    return numbered.join(per_row, on="_row", how="left", maintain_order="left").drop("_row")
