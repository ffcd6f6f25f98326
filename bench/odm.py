"""Benchmark: a study at a cut-off as one CDISC ODM 1.3.2 file, beside the same run's CSV export.

The synthetic study of bench/export.py (10 forms of 20 items at a baseline and 4 cycles, 3 lesion
rows: 1,006 values per subject, written in bulk with their `item.changed` audit events, then a
cut-off) on a fresh installation (a temporary data directory, SQLite; or a fresh PostgreSQL
database, dropped at the end). Each measurement runs in a process of its own, which reports its
time and its peak memory (ru_maxrss):

- the floor: the CSV export (with its SAS and R programs) of the same cut-off (`export_to_path`);
- the ODM snapshot (`odm_to_path`), and the ODM transactional file (every change with its
  AuditRecord).

Run at two sizes, the peak memory of the larger export says whether memory stays flat.

    .venv/bin/python bench/odm.py [--quick] [--sizes 1000,4000] [--database sqlite|postgresql]

The last line holds the figures.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import export as export_bench  # bench/export.py: the same synthetic study

POSTGRES = export_bench.POSTGRES
TASKS = ("csv", "odm", "odm-transactional")


def _measure(what: str, output: Path) -> dict[str, float]:
    from carnet.audit.services import SystemActor
    from carnet.interop.exports import export_to_path
    from carnet.interop.models import Cutoff
    from carnet.interop.odm.export import odm_to_path
    from carnet.studies.models import Study

    study = Study.objects.get(identifier="BENCHX")
    cutoff = Cutoff.objects.get(study=study, name="BENCH")
    actor = SystemActor(label="bench/odm.py")
    before = export_bench._peak_mb()
    began = time.perf_counter()
    if what == "csv":
        export_to_path(actor=actor, study=study, cutoff=cutoff, file_format="csv", output=output)
    else:
        mode = "transactional" if what == "odm-transactional" else "snapshot"
        odm_to_path(actor=actor, study=study, cutoff=cutoff, output=output, mode=mode)
    seconds = time.perf_counter() - began
    return {
        "seconds": seconds,
        "peak_mb": export_bench._peak_mb(),
        "start_mb": before,
        "bytes": output.stat().st_size,
    }


def _child(task: str) -> None:
    import django
    from django.core.management import call_command

    django.setup()
    if task == "setup":
        call_command("migrate", verbosity=0)
        began = time.perf_counter()
        export_bench._setup(int(os.environ["BENCH_SIZE"]))
        print(f"seconds={time.perf_counter() - began:.3f}")
        return
    figures = _measure(task, Path(os.environ["CARNET_DATA_DIR"]) / f"export-{task}.out")
    print(" ".join(f"{key}={value:.3f}" for key, value in figures.items()))


def _run(task: str, env: dict[str, str]) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", task],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {
        k: float(v) for k, v in (item.split("=") for item in out.strip().splitlines()[-1].split())
    }


def _one_size(size: int, database: str) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory(prefix="carnet-bench-odm-") as data:
        env = {**os.environ, "CARNET_DATA_DIR": data, "CARNET_PROFILE": "local"}
        env |= {"DJANGO_SETTINGS_MODULE": "carnet.config.settings.local", "CARNET_DEBUG": "off"}
        env["BENCH_SIZE"] = str(size)
        name = ""
        if database == "postgresql":
            name = f"carnet_bench_odm_{uuid.uuid4().hex[:8]}"
            subprocess.run(
                ["psql", POSTGRES + "/postgres", "-qc", f"CREATE DATABASE {name}"], check=True
            )
            env["DATABASE_URL"] = f"{POSTGRES}/{name}"
        try:
            results = {"setup": _run("setup", env)}
            for task in TASKS:
                results[task] = _run(task, env)
        finally:
            if name:
                subprocess.run(
                    ["psql", POSTGRES + "/postgres", "-qc", f"DROP DATABASE {name}"], check=False
                )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 and 40 subjects (under a minute).")
    parser.add_argument("--sizes", default="1000,4000")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        _child(options.child)
        return
    sizes = [10, 40] if options.quick else [int(s) for s in options.sizes.split(",")]
    per_subject = (1 + export_bench.CYCLES) * export_bench.FORMS * export_bench.ITEMS
    per_subject += export_bench.LESIONS * 2
    figures: dict[str, Any] = {}
    for size in sizes:
        results = _one_size(size, options.database)
        floor = results["csv"]["seconds"]
        print(
            f"{size} subjects, {size * per_subject:,} values ({options.database}): "
            f"setup {results['setup']['seconds']:.1f} s; CSV (floor) {floor:.2f} s, "
            f"{results['csv']['peak_mb']:.0f} MB; "
            + "; ".join(
                f"{task} {results[task]['seconds']:.2f} s "
                f"({results[task]['seconds'] / floor:.1f}x CSV), "
                f"{results[task]['peak_mb']:.0f} MB, {results[task]['bytes'] / 1e6:.1f} MB file"
                for task in TASKS[1:]
            )
        )
        for task in TASKS:
            key = task.replace("-", "_")
            figures[f"{key}_s_{size}"] = results[task]["seconds"]
            figures[f"{key}_mb_{size}"] = results[task]["peak_mb"]
    small, large = sizes[0], sizes[-1]
    figures["odm_memory_growth"] = figures[f"odm_mb_{large}"] / figures[f"odm_mb_{small}"]
    figures["odm_time_vs_csv"] = figures[f"odm_s_{large}"] / figures[f"csv_s_{large}"]
    print(" ".join(f"{key}={value:.3f}" for key, value in figures.items()))


if __name__ == "__main__":
    main()
