"""Benchmark: the DSMB closed session of a MAINTAIN-CRC-shaped trial, from the exported frames to
the PDF, beside reading those frames back alone.

The frames are what an export of a cut-off writes (the subject dataset and the tumour assessment,
treatment and adverse-event datasets), made synthetic here: two arms, exponential PFS and OS,
8-weekly assessments, a few adverse events per patient. Each measurement runs in a process of its
own and reports its time and peak memory (ru_maxrss):

- the floor: reading the exported Parquet files back into Polars frames;
- the report: the same read, then the derivation of the analysis dataset (OS, PFS, BOR), the
  closed session (Kaplan-Meier, stratified log-rank and Cox, forest plot, group-sequential
  monitoring, AE tables by arm) and its PDF (WeasyPrint).

The database part (rebuilding the frames from the audit trail at a cut-off) is the export's,
measured by bench/export.py; this one measures what the reports add to it.

    .venv/bin/python bench/reports.py [--quick] [--subjects 10000]

The last line holds the figures. Target: the whole DSMB report in <= 60 s on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

TARGET_SECONDS = 60.0
START = date(2024, 1, 1)


def _frames(subjects: int, seed: int = 23) -> dict[str, pl.DataFrame]:
    rng = np.random.default_rng(seed)
    ids = [f"{1 + n % 30:02d}-{n:05d}" for n in range(subjects)]
    arm = rng.integers(0, 2, subjects)
    entry = rng.integers(0, 900, subjects)
    randomised = [START + timedelta(days=int(d)) for d in entry]
    follow = 1000 - entry
    pfs = np.ceil(rng.exponential(np.where(arm == 1, 170, 120)))
    death = np.ceil(pfs + rng.exponential(300, subjects))
    died = death < follow
    subject_frame = pl.DataFrame(
        {
            "subject": ids,
            "site": [i[:2] for i in ids],
            "arm": np.where(arm == 1, "experimental", "placebo"),
            "included_on": randomised,
            "randomised_on": randomised,
            "last_news_on": [
                r + timedelta(days=int(min(d, f)))
                for r, d, f in zip(randomised, death, follow, strict=True)
            ],
            "death_on": [
                r + timedelta(days=int(d)) if x else None
                for r, d, x in zip(randomised, death, died, strict=True)
            ],
            "itt": np.ones(subjects, dtype=np.int8),
            "per_protocol": np.ones(subjects, dtype=np.int8),
            "safety": np.ones(subjects, dtype=np.int8),
            "end_of_treatment_on": [None] * subjects,
            "end_of_treatment_reason": [None] * subjects,
            "study_status": ["included"] * subjects,
        },
        schema_overrides={"death_on": pl.Date, "end_of_treatment_on": pl.Date},
    )
    rows, doses, events = [], [], []
    terms = ["Fatigue", "Hypertension", "Diarrhoea", "Nausea", "Proteinuria", "Epistaxis"]
    for n, subject in enumerate(ids):
        stop = int(min(pfs[n], follow[n], death[n]))
        doses.append((subject, randomised[n] + timedelta(days=1), str(int(rng.integers(0, 2)))))
        for k in range(1, stop // 56 + 2):
            day = 56 * k
            if day > follow[n] or day >= death[n]:
                break
            response = 4 if day >= pfs[n] else int(rng.choice([2, 3, 3, 3]))
            rows.append(
                (subject, randomised[n] + timedelta(days=day), response, float(rng.normal(-10, 20)))
            )
            if response == 4:
                break
        for _ in range(int(rng.integers(0, 4))):
            onset = randomised[n] + timedelta(days=int(rng.integers(1, max(2, stop))))
            events.append(
                (
                    subject,
                    str(rng.choice(terms)),
                    int(rng.integers(1, 5)),
                    onset,
                    int(rng.integers(0, 2)),
                )
            )
    tumour = pl.DataFrame(
        rows,
        schema={
            "subject": pl.String,
            "ta_date": pl.Date,
            "overall_resp": pl.Int64,
            "pct_change": pl.Float64,
        },
        orient="row",
    ).with_columns(pl.col("ta_date").alias("visit_date"))
    treatment = pl.DataFrame(
        doses,
        schema={"subject": pl.String, "adm_date": pl.Date, "strat_ecog": pl.String},
        orient="row",
    ).with_columns(pl.col("adm_date").alias("visit_date"))
    adverse = pl.DataFrame(
        events,
        schema={
            "subject": pl.String,
            "ae_term": pl.String,
            "ae_grade": pl.Int64,
            "ae_start": pl.Date,
            "ae_serious": pl.Int64,
        },
        orient="row",
    ).with_columns(pl.lit(None, pl.Date).alias("visit_date"))
    return {
        "subjects": subject_frame,
        "tumour_assessment": tumour,
        "treatment": treatment,
        "adverse_event": adverse,
    }


PLAN = {
    "statistical_plan": {
        "method": "group-sequential",
        "primary_endpoint": "progression_free_survival",
        "alpha": 0.025,
        "power": 0.8,
        "events": 247,
        "information_fractions": [0.5, 1],
        "efficacy_spending": "obrien-fleming",
        "futility_spending": "obrien-fleming",
        "settings": {"reference_arm": "placebo", "response": {"confirmation": False}},
        "endpoints": {
            "first_dose": "treatment.adm_date",
            "assessments": {
                "form": "tumour_assessment",
                "date": "ta_date",
                "response": "overall_resp",
                "change": "pct_change",
                "codes": {"CR": 1, "PR": 2, "SD": 3, "PD": 4, "NE": 5},
            },
            "adverse_events": {
                "form": "adverse_event",
                "term": "ae_term",
                "grade": "ae_grade",
                "onset": "ae_start",
                "serious": {"item": "ae_serious", "codes": [1]},
            },
        },
        "strata": ["strat_ecog"],
        "subgroups": ["strat_ecog"],
        "landmarks": [180, 365],
    }
}


def _read(folder: Path) -> dict[str, pl.DataFrame]:
    return {path.stem: pl.read_parquet(path) for path in sorted(folder.glob("*.parquet"))}


def _measure(kind: str, folder: str) -> None:
    """Run one measurement (in a process of its own) and print: seconds peak_kib."""
    began = time.perf_counter()
    frames = _read(Path(folder))
    if kind == "report":
        import django

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "carnet.config.settings.local")
        django.setup()
        from carnet.reports.datasets import Source
        from carnet.reports.derive import derive
        from carnet.reports.dsmb import closed_session
        from carnet.reports.rendering import report_pdf
        from carnet.studies.definition.statistical_plan import StatisticalPlan

        subjects = frames.pop("subjects")
        dataset = derive(StatisticalPlan.from_design(PLAN), subjects, frames, by_arm=True)
        report = closed_session(dataset)
        source = Source("BENCH", "BENCH", 1, "0" * 64, "2026-11-21", 1, True)
        pdf = report_pdf([report], source, title="DSMB closed session")
        assert pdf.startswith(b"%PDF")
    seconds = time.perf_counter() - began
    usage = resource.getrusage(resource.RUSAGE_SELF)
    # CPU time beside the wall time: on the shared machine the wall time is mostly waiting.
    print(f"{usage.ru_utime + usage.ru_stime:.2f} {seconds:.2f} {usage.ru_maxrss}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 subjects")
    parser.add_argument("--subjects", type=int, default=10_000)
    parser.add_argument("--measure", nargs=2, metavar=("KIND", "FOLDER"), help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.measure:
        _measure(*arguments.measure)
        return
    subjects = 2_000 if arguments.quick else arguments.subjects
    with tempfile.TemporaryDirectory(prefix="carnet-bench-reports-") as folder:
        for name, frame in _frames(subjects).items():
            frame.write_parquet(Path(folder) / f"{name}.parquet")
        figures = {}
        for kind in ("floor", "report"):
            output: Any = subprocess.run(
                [sys.executable, __file__, "--measure", kind, folder],
                check=False,
                capture_output=True,
                text=True,
            )
            if output.returncode:
                raise SystemExit(output.stderr)
            output = output.stdout.split()
            figures[kind] = (float(output[-2]), int(output[-1]) // 1024, float(output[-3]))
    floor, report = figures["floor"], figures["report"]
    verdict = "within" if report[0] <= TARGET_SECONDS else "OVER"
    print(
        f"{subjects} subjects (load {os.getloadavg()[0]:.1f}): read the exported frames "
        f"{floor[0]:.2f} s ({floor[1]} MiB peak); DSMB closed session with PDF {report[0]:.2f} s "
        f"wall, {report[2]:.2f} s CPU ({report[1]} MiB peak), {verdict} the "
        f"{TARGET_SECONDS:.0f} s target"
    )


if __name__ == "__main__":
    main()
