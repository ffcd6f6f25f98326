"""Argument checks shared by the computations, each raising an error that names the parameter."""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence

import polars as pl

from carnet.analysis.errors import AnalysisInputError


def require_probability(name: str, value: float) -> None:
    """Refuse a value outside the open interval (0, 1)."""
    if not (isinstance(value, int | float) and math.isfinite(value) and 0.0 < value < 1.0):
        raise AnalysisInputError(
            f"{name} must lie strictly between 0 and 1, got {value!r}.", parameter=name
        )


def require_positive(name: str, value: float) -> None:
    """Refuse a value that is not a finite positive number."""
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise AnalysisInputError(f"{name} must be positive, got {value!r}.", parameter=name)


def require_columns(frame: pl.DataFrame, columns: Collection[str], *, what: str) -> None:
    """Refuse a frame that lacks one of the columns the computation reads."""
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise AnalysisInputError(
            f"The {what} frame has no column {', '.join(repr(c) for c in missing)}; "
            f"it has {', '.join(frame.columns) or 'none'}.",
            parameter=missing[0],
        )


def first_subject(frame: pl.DataFrame, mask: pl.Expr, subject: str | None) -> str:
    """Return a label for the first row matching ``mask``: its subject, else its row number."""
    rows = frame.with_row_index("_row").filter(mask)
    if subject is not None and subject in frame.columns:
        return str(rows[subject][0])
    return f"row {rows['_row'][0]}"


def require_no_nulls(
    frame: pl.DataFrame, columns: Sequence[str], *, subject: str | None, what: str
) -> None:
    """Refuse missing values in columns that every row needs."""
    for column in columns:
        if frame[column].null_count():
            label = first_subject(frame, pl.col(column).is_null(), subject)
            raise AnalysisInputError(
                f"{what}: {column!r} is missing for {label}.",
                subject=label,
                parameter=column,
            )
