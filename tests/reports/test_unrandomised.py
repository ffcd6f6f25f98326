"""A subject treated but never randomised (an inclusion awaiting its allocation with a first dose
entered, or a study whose patients are not randomised yet) has no arm: the by-arm reports count
them apart, under "Not randomised", instead of refusing the whole report."""

from __future__ import annotations

import polars as pl

from carnet.reports.derive import NOT_RANDOMISED, derive
from carnet.reports.results import safety_report
from tests.reports.test_derive_and_figures import PLAN, forms, subjects


def test_a_treated_subject_without_an_arm_is_counted_apart_by_arm() -> None:
    frame = subjects().with_columns(
        pl.when(pl.col("subject") == "03").then(None).otherwise(pl.col("arm")).alias("arm"),
        pl.when(pl.col("subject") == "03")
        .then(None)
        .otherwise(pl.col("randomised_on"))
        .alias("randomised_on"),
        # Intention to treat is every randomised subject (interop's subject dataset).
        pl.when(pl.col("subject") == "03").then(0).otherwise(pl.col("itt")).cast(pl.Int8),
    )
    dataset = derive(PLAN, frame, forms(), by_arm=True)
    groups = dict(dataset.frame.select("subject", "group").iter_rows())
    assert groups == {"01": "A", "02": "A", "03": NOT_RANDOMISED, "04": "B"}
    safety = safety_report(dataset)
    assert {row["arm"] for row in safety.data["worst_grade"]} >= {NOT_RANDOMISED}
