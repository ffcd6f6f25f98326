"""Benchmark: the pages a data manager reads, at 10,000 subjects, p50/p95 beside a trivial page.

A fresh installation (a temporary data directory, SQLite; or a fresh PostgreSQL database,
dropped at the end) is migrated and given ACC-209 with ``--size`` synthetic subjects seeded in
bulk by bench/scale_seed.py (as bench/subject_lists.py does): a completed form instance for every
form of every visit, one subject with a 60-cycle casebook whose treatment forms are filled in,
lines of the screening log and queries; `schedule_rebuild` plans the stored schedules (its rate
is reported). Then, as a data manager who sees every site, through Django's test client (the
whole page: middleware, selectors, template): the subject list (page 1; sorted by next visit;
overdue only; searched), the 60-cycle casebook, a form page (GET), the overdue list, the
screening log, the query list and the data manager's workspace. The floor is the person's
account page (`/account/`), a small page of the same base template, asked in the same run. Each
page is asked ``--repeat`` times, interleaved with the floor; p50 and p95 are reported, with
each page's number of SQL statements and the measuring process's CPU time at p50 ("CPU ms":
on SQLite it includes the database's work, done in the process; on PostgreSQL it leaves out
the server's). The CPU time barely moves with the machine's load, which the elapsed times
follow closely on a shared machine. Target: p95 <= 300 ms for every page.

    .venv/bin/python bench/pages.py [--quick] [--size 10000] [--repeat 20]
        [--database sqlite|postgresql]

The last line holds the figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from scale_seed import LONG_SUBJECT, manager_client, study_seed

POSTGRES = "postgres://postgres@127.0.0.1:5432"
TARGET_MS = 300.0
LONG = f"subjects/{LONG_SUBJECT}/"
PAGES = {
    "list": "subjects/",
    "list_by_next_visit": "subjects/?sort=next_visit",
    "list_overdue": "subjects/?overdue=on",
    "list_search": "subjects/?q=03-0",
    "casebook_60": LONG + "casebook/",
    "form_get": LONG + "forms/cycle/60/treatment/",
    "overdue": "overdue/",
    "screening_log": "screening-log/",
    "queries": "queries/",
    "workspace": "workspace/",
}


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _measure(study: Any, manager: Any, repeat: int) -> dict[str, float]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = manager_client(manager)
    base = f"/studies/{study.identifier}/"
    paths = [*[(name, base + path) for name, path in PAGES.items()], ("floor", "/account/")]
    figures: dict[str, float] = {}
    for name, path in paths:  # warm-up, and the number of SQL statements of each page
        with CaptureQueriesContext(connection) as queries:
            response = client.get(path)
        assert response.status_code == 200, (name, response.status_code, response.get("Location"))
        figures[f"{name}_sql"] = len(queries.captured_queries)
    timings: dict[str, list[float]] = {name: [] for name, _ in paths}
    cpu: dict[str, list[float]] = {name: [] for name, _ in paths}
    for _ in range(repeat):
        for name, path in paths:
            began, began_cpu = time.perf_counter(), time.process_time()
            response = client.get(path)
            timings[name].append(time.perf_counter() - began)
            cpu[name].append(time.process_time() - began_cpu)
            assert response.status_code == 200, (name, response.status_code)
    for name, values in timings.items():
        figures[f"{name}_p50"] = statistics.median(values)
        figures[f"{name}_p95"] = _percentile(values, 0.95)
        figures[f"{name}_cpu"] = statistics.median(cpu[name])
    return figures


def _child(size: int, repeat: int) -> None:
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    began = time.perf_counter()
    seeded = study_seed(
        size,
        label="bench/pages.py",
        long_cycles=60,
        forms=True,
        screening=size // 2,
        queries=size // 2,
    )
    figures = {"seed_s": time.perf_counter() - began}
    figures.update(_measure(seeded.study, seeded.manager, repeat))
    figures["planning_per_subject_ms"] = seeded.planning / size * 1000
    print(" ".join(f"{key}={value:.6f}" for key, value in figures.items()))


def _run(size: int, repeat: int, database: str) -> dict[str, float]:
    """Run in a fresh process and installation; return its figures."""
    with tempfile.TemporaryDirectory(prefix="carnet-bench-pages-") as data:
        env = {**os.environ, "CARNET_DATA_DIR": data, "CARNET_PROFILE": "local"}
        env["DJANGO_SETTINGS_MODULE"] = "carnet.config.settings.local"
        env["CARNET_DEBUG"] = "off"
        name = ""
        if database == "postgresql":
            name = f"carnet_bench_pages_{uuid.uuid4().hex[:8]}"
            subprocess.run(
                ["psql", POSTGRES + "/postgres", "-qc", f"CREATE DATABASE {name}"], check=True
            )
            env["DATABASE_URL"] = f"{POSTGRES}/{name}"
        try:
            arguments = ["--child", str(size), "--repeat", str(repeat)]
            child = subprocess.run(
                [sys.executable, str(Path(__file__)), *arguments],
                env=env,
                check=False,
                capture_output=True,
                text=True,
            )
            if child.returncode:
                sys.exit(f"the measuring process failed:\n{child.stderr[-3000:]}")
            out = child.stdout
        finally:
            if name:
                subprocess.run(
                    ["psql", POSTGRES + "/postgres", "-qc", f"DROP DATABASE {name}"], check=False
                )
    figures = dict(item.split("=") for item in out.strip().splitlines()[-1].split())
    return {key: float(value) for key, value in figures.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 subjects, 5 requests a page.")
    parser.add_argument("--size", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        _child(options.child, options.repeat)
        return
    size = 300 if options.quick else options.size
    repeat = 5 if options.quick else options.repeat
    figures = _run(size, repeat, options.database)
    floor = figures["floor_p50"]
    print(
        f"database {options.database}; {size:,} subjects; {repeat} requests a page; "
        f"floor = /account/; seeded in {figures['seed_s']:.0f} s; schedules planned at "
        f"{figures['planning_per_subject_ms']:.2f} ms/subject"
    )
    print(f"{'page':<20}{'p50 ms':>10}{'p95 ms':>10}{'x floor':>9}{'CPU ms':>8}{'SQL':>6}  target")
    over = []
    for name in [*PAGES, "floor"]:
        p50, p95 = figures[f"{name}_p50"] * 1000, figures[f"{name}_p95"] * 1000
        passed = p95 <= TARGET_MS
        if not passed:
            over.append(name)
        print(
            f"{name:<20}{p50:>10.1f}{p95:>10.1f}{p50 / (floor * 1000):>9.2f}"
            f"{figures[f'{name}_cpu'] * 1000:>8.1f}"
            f"{figures[f'{name}_sql']:>6.0f}  {'ok' if passed else 'OVER'}"
        )
    worst = max(PAGES, key=lambda name: figures[f"{name}_p95"])
    print(
        f"{options.database} {size} subjects: "
        + " ".join(f"{name}={figures[f'{name}_p95'] * 1000:.0f}" for name in [*PAGES, "floor"])
        + f" (p95 ms); slowest {worst}; over {TARGET_MS:.0f} ms: {','.join(over) or 'none'}"
    )


if __name__ == "__main__":
    main()
