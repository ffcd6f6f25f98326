"""Benchmark: Kaplan-Meier, log-rank and Cox on synthetic subjects, Carnet against lifelines.

lifelines, called directly on prepared pandas data in the same run, is the floor. Rounds are
interleaved (floor, Carnet, floor, Carnet, ...) so machine noise hits both alike; the best round
of each is reported. The last line printed holds the figures.

    .venv/bin/python bench/analysis.py            # 100,000 subjects
    .venv/bin/python bench/analysis.py --quick    # 20,000 subjects, well under a minute
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings

import numpy as np
import pandas as pd
import polars as pl
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.statistics import logrank_test

from carnet.analysis import cox, kaplan_meier, logrank

TARGET_SECONDS = 5.0
TARGET_RATIO = 1.5


def synthetic(subjects: int, seed: int = 2024) -> pl.DataFrame:
    """Return a two-arm trial: exponential survival (HR 0.75), uniform censoring, ties by day."""
    rng = np.random.default_rng(seed)
    arm = rng.integers(0, 2, subjects)
    age = rng.normal(62, 10, subjects).round()
    hazard = np.log(2) / 365 * np.where(arm == 1, 0.75, 1.0) * np.exp(0.01 * (age - 62))
    event_time = np.ceil(rng.exponential(1 / hazard))
    censor_time = np.ceil(rng.uniform(30, 1500, subjects))
    return pl.DataFrame(
        {
            "subject": np.arange(subjects).astype(str),
            "time": np.minimum(event_time, censor_time),
            "event": (event_time <= censor_time).astype(np.int8),
            "arm": np.where(arm == 1, "B", "A"),
            "age": age,
        }
    )


def run_floor(data: pd.DataFrame) -> tuple[float, float]:
    """Fit the three analyses with lifelines directly; return (median, hazard ratio)."""
    fitter = KaplanMeierFitter().fit(data["time"], data["event"])
    a, b = data[data["B"] == 0], data[data["B"] == 1]
    logrank_test(a["time"], b["time"], a["event"], b["event"])
    model = CoxPHFitter().fit(data[["time", "event", "B", "age"]], "time", "event")
    return float(fitter.median_survival_time_), float(model.hazard_ratios_["B"])


def run_carnet(frame: pl.DataFrame) -> tuple[float, float]:
    """Fit the three analyses with carnet.analysis; return (median, hazard ratio)."""
    median = kaplan_meier(frame).curve().median.time
    logrank(frame, group="arm")
    model = cox(frame, arm="arm", covariates=["age"])
    return float(median or 0.0), model.term("arm=B").hazard_ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 subjects")
    parser.add_argument("--subjects", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=5)
    arguments = parser.parse_args()
    subjects = arguments.subjects or (20_000 if arguments.quick else 100_000)
    frame = synthetic(subjects)
    data = frame.select(
        "time", "event", (pl.col("arm") == "B").cast(pl.Int8).alias("B"), "age"
    ).to_pandas()
    print(f"machine: {platform.machine()} {platform.processor() or ''} {platform.python_version()}")
    print(f"subjects: {subjects}, events: {int(frame['event'].sum())}, rounds: {arguments.rounds}")
    floor_times, carnet_times = [], []
    warnings.simplefilter("ignore")
    for round_number in range(arguments.rounds):
        start = time.perf_counter()
        floor_result = run_floor(data)
        floor_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        carnet_result = run_carnet(frame)
        carnet_times.append(time.perf_counter() - start)
        print(
            f"round {round_number + 1}: lifelines {floor_times[-1]:.3f} s, "
            f"carnet {carnet_times[-1]:.3f} s"
        )
    # Same data, same answers: a fast wrong answer is no benchmark.
    if floor_result[0] != carnet_result[0] or abs(floor_result[1] - carnet_result[1]) > 1e-6:
        raise SystemExit(f"results differ: lifelines {floor_result}, carnet {carnet_result}")
    floor, carnet = min(floor_times), min(carnet_times)
    ratio = carnet / floor
    met = carnet <= TARGET_SECONDS and ratio <= TARGET_RATIO
    print(
        f"analysis bench: subjects={subjects} carnet_best={carnet:.3f}s "
        f"lifelines_best={floor:.3f}s ratio={ratio:.2f} "
        f"target(<= {TARGET_SECONDS:g}s and <= {TARGET_RATIO:g}x floor)="
        + ("met" if met else "NOT met")
    )


if __name__ == "__main__":
    main()
