"""Benchmark: CTCAE v5.0 grades and L/H flags of a whole study's laboratory values in Polars.

Synthetic values of the ten MAINTAIN-CRC analytes (some in another unit than their ranges, a
baseline for most) are graded and flagged with `carnet.laboratory.frames`; the floor, in the same
run, is one plain Polars pass over the same frame (a comparison of each value with its limits).
Rounds are interleaved so machine noise hits both alike; the best round of each is reported.
The last line printed holds the figures.

    .venv/bin/python bench/lab_grades.py            # 5,000,000 values
    .venv/bin/python bench/lab_grades.py --quick    # 500,000 values, well under a minute
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import polars as pl

from carnet.laboratory.frames import flagged, graded

# analyte, unit, low, high, typical value, spread
ANALYTES = [
    ("haemoglobin", "g/dL", 12.0, 16.0, 12.5, 2.0),
    ("leukocytes", "G/L", 4.0, 10.0, 6.0, 2.5),
    ("neutrophils", "G/L", 1.8, 7.5, 3.5, 1.8),
    ("platelets", "G/L", 150.0, 400.0, 220.0, 80.0),
    ("creatinine", "µmol/L", 45.0, 104.0, 80.0, 40.0),
    ("creatinine", "mg/dL", 0.51, 1.17, 0.9, 0.4),
    ("bilirubin", "µmol/L", None, 21.0, 12.0, 10.0),
    ("alt", "U/L", None, 40.0, 35.0, 40.0),
    ("ast", "U/L", None, 35.0, 30.0, 35.0),
    ("alp", "U/L", 40.0, 130.0, 110.0, 80.0),
    ("potassium", "mmol/L", 3.5, 5.0, 4.2, 0.6),
]


def synthetic(values: int, seed: int = 2024) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    which = rng.integers(0, len(ANALYTES), values)
    table = pl.DataFrame(
        [row[:4] for row in ANALYTES],
        schema={"analyte": pl.String, "unit": pl.String, "low": pl.Float64, "high": pl.Float64},
        orient="row",
    ).with_row_index("which")
    centre = np.array([row[4] for row in ANALYTES])[which]
    spread = np.array([row[5] for row in ANALYTES])[which]
    value = np.abs(rng.normal(centre, spread))
    baseline = np.where(rng.random(values) < 0.7, np.abs(rng.normal(centre, spread)), np.nan)
    frame = pl.DataFrame({"which": which.astype(np.uint32), "value": value, "baseline": baseline})
    return (
        frame.join(table, on="which", how="left")
        .drop("which")
        .with_columns(pl.col("baseline").fill_nan(None))
    )


def floor(frame: pl.DataFrame) -> int:
    """One plain pass: is each value outside its limits?"""
    outside = frame.select(
        ((pl.col("value") < pl.col("low")) | (pl.col("value") > pl.col("high"))).sum()
    )
    return int(outside.item())


def carnet(frame: pl.DataFrame) -> int:
    result = graded(flagged(frame))
    return int(result.select((pl.col("grade") >= 3).sum()).item())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()
    values = 500_000 if arguments.quick else 5_000_000
    frame = synthetic(values)
    best_floor = best_carnet = float("inf")
    grade3 = 0
    for _round in range(arguments.rounds):
        started = time.perf_counter()
        floor(frame)
        best_floor = min(best_floor, time.perf_counter() - started)
        started = time.perf_counter()
        grade3 = carnet(frame)
        best_carnet = min(best_carnet, time.perf_counter() - started)
    rate = values / best_carnet
    print(
        f"lab grades: {values:,} values graded and flagged in {best_carnet:.2f} s "
        f"({rate:,.0f} values/s; {grade3:,} of grade >= 3); floor (one plain pass) "
        f"{best_floor:.3f} s; ratio {best_carnet / best_floor:.1f}"
    )


if __name__ == "__main__":
    main()
