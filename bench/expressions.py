"""Benchmark: the column evaluator against the same rules hand-written in Polars.

50 typical rules (ranges, cross-item consistency, date order, aggregates over a repeating
group) run over one frame of about 10 million values (``--quick``: about 500,000). Both sides
run in the same process on the same frame, in interleaved repetitions; the best repetition of
each is reported, and the results of both are compared so the floor computes the same thing.

    .venv/bin/python bench/expressions.py [--quick] [--repetitions N]
"""

import argparse
import time
from datetime import date

import numpy as np
import polars as pl

from carnet.expressions import Symbol, SymbolTable, check, parse, to_polars

TODAY = date(2024, 6, 15)
INTEGERS = {
    "age": (10, 95), "sbp": (60, 260), "dbp": (35, 160), "hr": (25, 210), "resp_rate": (5, 45),
    "ecog": (0, 4), "cycles": (0, 12), "cycle_number": (1, 12), "plt": (20, 600),
    "lymph": (0, 8000), "dose_level": (-2, 3), "sex": (1, 2), "arm": (1, 3), "smoker": (0, 3),
}  # fmt: skip
DECIMALS = {
    "weight": (25.0, 260.0), "baseline.weight": (25.0, 260.0), "height": (110.0, 225.0),
    "bmi": (15.0, 45.0), "temp": (34.0, 43.0), "hb": (6.0, 18.0), "neut": (0.2, 12.0),
    "wbc": (1.0, 35.0), "creat": (0.3, 3.0), "alt": (5.0, 300.0), "ast": (5.0, 300.0),
    "bili": (0.1, 4.0), "albumin": (20.0, 50.0), "ldh": (100.0, 1500.0), "psa": (0.0, 200.0),
    "dose_mg": (50.0, 300.0), "bsa": (1.0, 3.0),
}  # fmt: skip
DATES = [
    "birth_date", "consent_date", "inclusion_date", "treatment_start", "visit_date",
    "ae_start", "ae_end", "last_contact", "death_date",
]  # fmt: skip
REPEATING = {"lesion_diameter": (5, 120), "ae_grade": (1, 5)}


def _ymd(name: str, year_weight: int) -> pl.Expr:
    """Return a date as year * weight + month * 100 + day, the usual way to count anniversaries."""
    day = pl.col(name).dt
    year, month = day.year().cast(pl.Int32), day.month().cast(pl.Int32)
    return year * year_weight + month * 100 + day.day().cast(pl.Int32)


# Each rule in the language, with the same rule as a Polars user would write it by hand.
RULES: list[tuple[str, pl.Expr]] = [
    ("age >= 18 and age <= 75", pl.col("age").is_between(18, 75)),
    ("sbp >= 70 and sbp <= 250", pl.col("sbp").is_between(70, 250)),
    ("dbp >= 40 and dbp <= 150", pl.col("dbp").is_between(40, 150)),
    ("sbp > dbp", pl.col("sbp") > pl.col("dbp")),
    ("hr >= 30 and hr <= 200", pl.col("hr").is_between(30, 200)),
    ("resp_rate >= 8 and resp_rate <= 40", pl.col("resp_rate").is_between(8, 40)),
    ("ecog in (0, 1, 2)", pl.col("ecog").is_in([0, 1, 2])),
    ("weight >= 30 and weight <= 250", pl.col("weight").is_between(30, 250)),
    ("height >= 120 and height <= 220", pl.col("height").is_between(120, 220)),
    ("temp >= 35 and temp <= 42", pl.col("temp").is_between(35, 42)),
    ("hb >= 8", pl.col("hb") >= 8),
    ("plt >= 100", pl.col("plt") >= 100),
    ("neut >= 1.5", pl.col("neut") >= 1.5),
    ("creat <= 1.5", pl.col("creat") <= 1.5),
    ("alt <= 3 * 40", pl.col("alt") <= 120),
    ("ast <= 3 * 40", pl.col("ast") <= 120),
    ("bili <= 1.5", pl.col("bili") <= 1.5),
    ("albumin >= 30", pl.col("albumin") >= 30),
    (
        "abs(bmi - weight / (height / 100 * (height / 100))) < 0.1",
        (pl.col("bmi") - pl.col("weight") / (pl.col("height") / 100) ** 2).abs() < 0.1,
    ),
    ("consent_date <= inclusion_date", pl.col("consent_date") <= pl.col("inclusion_date")),
    ("inclusion_date <= treatment_start", pl.col("inclusion_date") <= pl.col("treatment_start")),
    ("treatment_start <= visit_date", pl.col("treatment_start") <= pl.col("visit_date")),
    (
        "days_between(inclusion_date, treatment_start) <= 28",
        (pl.col("treatment_start") - pl.col("inclusion_date")).dt.total_days() <= 28,
    ),
    (
        "years_between(birth_date, consent_date) >= 18",
        (_ymd("consent_date", 10_000) - _ymd("birth_date", 10_000)) // 10_000 >= 18,
    ),
    ("ae_start <= ae_end", pl.col("ae_start") <= pl.col("ae_end")),
    (
        "is_missing(death_date) or death_date >= last_contact",
        pl.col("death_date").is_null() | (pl.col("death_date") >= pl.col("last_contact")),
    ),
    ("last_contact <= today()", pl.col("last_contact") <= TODAY),
    ("visit_date <= today()", pl.col("visit_date") <= TODAY),
    ("not (sex = 1 and pregnant)", ~((pl.col("sex") == 1) & pl.col("pregnant"))),
    (
        "sex = 2 or pregnant = false or is_missing(pregnant)",
        (pl.col("sex") == 2) | ~pl.col("pregnant") | pl.col("pregnant").is_null(),
    ),
    ("sum(lesion_diameter) <= 300", pl.col("lesion_diameter").list.sum() <= 300),
    ("count(lesion_diameter) <= 5", pl.col("lesion_diameter").list.len() <= 5),
    ("max(lesion_diameter) >= 10", pl.col("lesion_diameter").list.max() >= 10),
    (
        "min(lesion_diameter) >= 10 or count(lesion_diameter) = 0",
        (pl.col("lesion_diameter").list.min() >= 10) | (pl.col("lesion_diameter").list.len() == 0),
    ),
    ("max(ae_grade) < 4", pl.col("ae_grade").list.max() < 4),
    ("sum(ae_grade) < 20", pl.col("ae_grade").list.sum() < 20),
    ("cycles >= cycle_number", pl.col("cycles") >= pl.col("cycle_number")),
    ("dose_level in (-1, 0, 1, 2)", pl.col("dose_level").is_in([-1, 0, 1, 2])),
    ("dose_mg / bsa <= 100", pl.col("dose_mg") / pl.col("bsa") <= 100),
    ("bsa >= 1.2 and bsa <= 2.8", pl.col("bsa").is_between(1.2, 2.8)),
    ("coalesce(ldh, 0) < 1000", pl.col("ldh").fill_null(0) < 1000),
    ("psa < 100 or sex = 2", (pl.col("psa") < 100) | (pl.col("sex") == 2)),
    ("lymph <= wbc * 1000", pl.col("lymph") <= pl.col("wbc") * 1000),
    ("wbc >= 2 and wbc <= 30", pl.col("wbc").is_between(2, 30)),
    ("smoker in (0, 1, 2)", pl.col("smoker").is_in([0, 1, 2])),
    (
        "arm in (1, 2) and not is_missing(inclusion_date)",
        pl.col("arm").is_in([1, 2]) & pl.col("inclusion_date").is_not_null(),
    ),
    ("not is_missing(initials)", pl.col("initials").is_not_null()),
    (
        "consent_signed = true or is_missing(inclusion_date)",
        pl.col("consent_signed") | pl.col("inclusion_date").is_null(),
    ),
    (
        "months_between(treatment_start, visit_date) <= 24",
        (_ymd("visit_date", 1_200) - _ymd("treatment_start", 1_200)) // 100 <= 24,
    ),
    ("weight < baseline.weight * 1.2", pl.col("weight") < pl.col("baseline.weight") * 1.2),
]


def symbols() -> SymbolTable:
    """Return the symbol table of the benchmark's items."""
    found = [Symbol.for_item(name, "integer") for name in INTEGERS]
    found += [Symbol.for_item(name, "decimal") for name in DECIMALS if "." not in name]
    found += [Symbol.for_item(name, "date") for name in DATES]
    found += [Symbol.for_item(name, "integer", repeating=True) for name in REPEATING]
    found += [Symbol.for_item("pregnant", "boolean"), Symbol.for_item("consent_signed", "boolean")]
    found.append(Symbol.for_item("initials", "text"))
    return SymbolTable(found)


def study_frame(rows: int, seed: int = 7) -> tuple[pl.DataFrame, int]:
    """Return a frame of ``rows`` subjects (5% missing values) and how many values it holds."""
    generator = np.random.default_rng(seed)

    def with_gaps(values: np.ndarray) -> pl.Series:
        series = pl.Series(values)
        return series.scatter(np.flatnonzero(generator.random(rows) < 0.05), None)

    columns: dict[str, pl.Series] = {}
    for name, (low, high) in INTEGERS.items():
        columns[name] = with_gaps(generator.integers(low, high + 1, rows))
    for name, (low, high) in DECIMALS.items():
        columns[name] = with_gaps(np.round(generator.uniform(low, high, rows), 2))
    start = np.datetime64("1930-01-01")
    for name in DATES:
        days = generator.integers(0, 95 * 365, rows) if name == "birth_date" else None
        if days is None:
            days = generator.integers(365 * 85, 365 * 95, rows)
        columns[name] = with_gaps((start + days.astype("timedelta64[D]")).astype("datetime64[D]"))
    for name in ("pregnant", "consent_signed"):
        columns[name] = with_gaps(generator.random(rows) < 0.5)
    columns["initials"] = with_gaps(np.array(["AB", "CD", "EF"])[generator.integers(0, 3, rows)])
    values = rows * len(columns)
    for name, (low, high) in REPEATING.items():
        counts = generator.integers(0, 6, rows)
        flat = generator.integers(low, high + 1, int(counts.sum()))
        offsets = np.concatenate([[0], np.cumsum(counts)])
        lists = [flat[offsets[i] : offsets[i + 1]].tolist() for i in range(rows)]
        columns[name] = pl.Series(name, lists, dtype=pl.List(pl.Int64))
        values += int(counts.sum())
    frame = pl.DataFrame(columns).with_columns(pl.col(pl.Date).cast(pl.Date))
    return frame, values


def run(frame: pl.LazyFrame, expressions: list[pl.Expr]) -> tuple[float, pl.DataFrame]:
    started = time.perf_counter()
    result = frame.select(expressions).collect()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="about 500,000 values")
    parser.add_argument("--repetitions", type=int, default=None)
    arguments = parser.parse_args()
    rows = 10_400 if arguments.quick else 208_500
    repetitions = arguments.repetitions or 11

    frame, values = study_frame(rows)
    table = symbols()
    started = time.perf_counter()
    compiled = [
        to_polars(check(parse(text), table), clock=lambda: TODAY).alias(f"rule_{index}")
        for index, (text, _) in enumerate(RULES)
    ]
    compile_seconds = time.perf_counter() - started
    floor = [expression.alias(f"rule_{index}") for index, (_, expression) in enumerate(RULES)]
    lazy = frame.lazy()

    ours: list[float] = []
    theirs: list[float] = []
    for repetition in range(repetitions):
        # Alternate which side runs first, so that neither always gets the warmer cache.
        order = [("ours", compiled), ("floor", floor)]
        for side, expressions in order if repetition % 2 == 0 else reversed(order):
            seconds, result = run(lazy, expressions)
            (ours if side == "ours" else theirs).append(seconds)
            if side == "ours":
                ours_result = result
            else:
                floor_result = result
    differing = [
        RULES[index][0]
        for index, name in enumerate(ours_result.columns)
        if not ours_result[name].equals(floor_result[name])
    ]

    ours_rate, floor_rate = values / min(ours), values / min(theirs)
    print(f"{len(RULES)} rules over {rows} subjects, {values:,} values, {repetitions} repetitions")
    print(f"parse + check + compile of the {len(RULES)} rules: {compile_seconds * 1000:.1f} ms")
    print(f"best seconds: column evaluator {min(ours):.3f}, hand-written {min(theirs):.3f}")
    print(f"rules whose results differ from the hand-written ones: {differing or 'none'}")
    print(
        f"column evaluator: {ours_rate:,.0f} values/s; "
        f"hand-written Polars floor: {floor_rate:,.0f} values/s; "
        f"ratio {ours_rate / floor_rate:.2f}"
    )


if __name__ == "__main__":
    main()
