"""CTCAE v5.0 grades as Polars expressions over any columns (Django-free).

`grade_expression` is `ctcae.grade_with` compiled to one `pl.when` chain per set of bounds: the
laboratory listing builds it over its value/low/high/baseline columns, the expression language's
column evaluator over the columns a rule names (``ctcae_grade("platelet_count_decreased", plt,
plt_lln, plt_uln)``). The same float operations in the same order as the scalar function, so
both give the same grade.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from carnet.core.ctcae import INCREASED, Bound, Term

GRADE = pl.Int8


@dataclass(frozen=True)
class Columns:
    """The expressions a grade reads: the value and its limits, all in the bounds' unit."""

    value: pl.Expr
    lln: pl.Expr
    uln: pl.Expr
    baseline: pl.Expr


def _threshold(bound: Bound, columns: Columns) -> pl.Expr:
    if bound.value is not None:
        return pl.lit(bound.value, dtype=pl.Float64)
    if bound.uln is not None:
        return columns.uln * bound.uln
    if bound.lln is not None:
        return columns.lln * bound.lln
    assert bound.baseline is not None
    return columns.baseline * bound.baseline


def _passes(bound: Bound, direction: str, columns: Columns) -> pl.Expr:
    value, threshold = columns.value, _threshold(bound, columns)
    if direction == INCREASED:
        return value >= threshold if bound.inclusive else value > threshold
    return value <= threshold if bound.inclusive else value < threshold


def _chain(bounds: tuple[Bound, ...], direction: str, columns: Columns) -> pl.Expr:
    """`ctcae.grade_on` as an expression: built from the lowest grade outwards."""
    expression: pl.Expr = pl.lit(0, dtype=GRADE)
    for bound in reversed(bounds):
        expression = (
            pl.when(_threshold(bound, columns).is_null())
            .then(pl.lit(None, dtype=GRADE))
            .when(_passes(bound, direction, columns))
            .then(pl.lit(bound.grade, dtype=GRADE))
            .otherwise(expression)
        )
    return expression


def grade_expression(term: Term, bounds: tuple[Bound, ...], columns: Columns) -> pl.Expr:
    """`ctcae.grade_with` for one term and one set of bounds, on values already in its unit.

    A missing value grades as missing (null)."""
    grade = _chain(bounds, term.direction, columns)
    baseline, uln = columns.baseline, columns.uln
    if term.abnormal_baseline:
        grade = (
            pl.when(baseline.is_null())
            .then(grade)
            .when(uln.is_null())
            .then(pl.lit(None, dtype=GRADE))
            .when(baseline > uln)
            .then(_chain(term.abnormal_baseline, term.direction, columns))
            .otherwise(grade)
        )
    if term.against_baseline:
        by_baseline = _chain(term.against_baseline, term.direction, columns)
        grade = (
            pl.when(baseline.is_null() | grade.is_null())
            .then(grade)
            .otherwise(pl.max_horizontal(grade, by_baseline))
        )
    return pl.when(columns.value.is_not_null()).then(grade)
