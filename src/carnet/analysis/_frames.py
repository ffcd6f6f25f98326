"""Reading time-to-event columns out of a Polars frame, refusing what cannot be analysed."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from carnet.analysis._checks import first_subject, require_columns, require_no_nulls
from carnet.analysis.errors import AnalysisInputError


def time_and_event(
    frame: pl.DataFrame, *, time: str, event: str, subject: str | None, what: str
) -> tuple[np.ndarray, np.ndarray]:
    """Return times (float) and event indicators (bool) after checking every row."""
    require_columns(frame, [time, event], what=what)
    if frame.height == 0:
        raise AnalysisInputError(
            f"{what}: the frame has no subject; there is nothing to estimate.", parameter=time
        )
    require_no_nulls(frame, [time, event], subject=subject, what=what)
    if not frame[time].dtype.is_numeric():
        raise AnalysisInputError(
            f"{what}: {time!r} must be numeric (days or months), not {frame[time].dtype}.",
            parameter=time,
        )
    bad_time = pl.col(time).cast(pl.Float64)
    bad = frame.select((bad_time < 0) | bad_time.is_nan() | bad_time.is_infinite()).to_series()
    if bad.any():
        label = first_subject(
            frame, bad_time.is_nan() | bad_time.is_infinite() | (bad_time < 0), subject
        )
        raise AnalysisInputError(
            f"{what}: {time!r} is negative or not finite for {label}; a time to event starts at "
            "the origin and cannot precede it.",
            subject=label,
            parameter=time,
        )
    events = frame[event]
    if events.dtype != pl.Boolean:
        valid = events.cast(pl.Float64).is_in([0.0, 1.0])
        if not valid.all():
            label = first_subject(frame, ~pl.col(event).cast(pl.Float64).is_in([0.0, 1.0]), subject)
            raise AnalysisInputError(
                f"{what}: {event!r} must be 1 (event) or 0 (censored), got another value for "
                f"{label}.",
                subject=label,
                parameter=event,
            )
        events = events.cast(pl.Float64) == 1.0
    return frame[time].cast(pl.Float64).to_numpy(), events.to_numpy().astype(bool)


def require_events(events: np.ndarray, *, event: str, what: str) -> None:
    """Refuse a comparison when no subject had the event: there is no information to test."""
    if not events.any():
        raise AnalysisInputError(
            f"{what}: no event among the {events.size} subjects ({event!r} is 0 for all); "
            "a comparison needs at least one event.",
            parameter=event,
        )


def labels(frame: pl.DataFrame, column: str, *, subject: str | None, what: str) -> np.ndarray:
    """Return a grouping column as text labels, refusing missing values."""
    require_columns(frame, [column], what=what)
    require_no_nulls(frame, [column], subject=subject, what=what)
    return frame[column].cast(pl.String).to_numpy().astype(str)


def strata_labels(
    frame: pl.DataFrame, strata: Sequence[str], *, subject: str | None, what: str
) -> np.ndarray:
    """Return one text label per row joining the stratification columns (all one if none)."""
    if not strata:
        return np.zeros(frame.height, dtype=np.int64).astype(str)
    parts = [labels(frame, column, subject=subject, what=what) for column in strata]
    joined = parts[0].astype(object)
    for part in parts[1:]:
        joined = joined + "|" + part.astype(object)
    return np.asarray(joined, dtype=str)
