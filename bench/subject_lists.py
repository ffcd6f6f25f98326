"""Benchmark: the subject list and the overdue list pages at 1,000 and 10,000 subjects.

A fresh installation (a temporary data directory, SQLite; or a fresh PostgreSQL database,
dropped at the end) is migrated and given ACC-209 (examples/studies/simon-phase2.yaml: 21-day
cycles, 6-weekly imaging, follow-up every 3 months), three sites and a data manager. Synthetic
subjects are written in bulk (inclusion dates over two years, cycles done, a share off treatment,
in follow-up or deceased, some late), then `schedule_rebuild` plans their stored schedules, as
`carnet schedule rebuild` does: its rate is reported too. Then, as the data manager, through
Django's test client (the whole page: middleware, selectors, template): page 1 of the subject
list, the same sorted by next visit, filtered on overdue subjects, and searched; page 1 of the
overdue list. The floor is the person's account page (`/account/`), a small page of the same base
template, measured in the same run. Each page is asked ``--repeat`` times, interleaved with the
floor; the median is kept. Reported: each page's time at each size, its ratio to the floor, and
the growth from the smaller to the larger size (near 1: time does not grow with the subjects).

    .venv/bin/python bench/subject_lists.py [--quick] [--sizes 1000,10000] [--repeat 15]
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

from scale_seed import manager_client, study_seed

BENCH = Path(__file__).resolve().parent
REPOSITORY = BENCH.parent
POSTGRES = "postgres://postgres@127.0.0.1:5432"
PAGES = {
    "list": "subjects/",
    "list_by_next_visit": "subjects/?sort=next_visit",
    "list_overdue": "subjects/?overdue=on",
    "list_search": "subjects/?q=03-0",
    "overdue": "overdue/",
}


def _setup(size: int) -> tuple[Any, Any, float]:
    """Create the study, sites, data manager and ``size`` subjects; return them and the time
    the stored schedules took to plan."""
    seeded = study_seed(size, label="bench/subject_lists.py")
    return seeded.study, seeded.manager, seeded.planning


def _measure(study: Any, manager: Any, repeat: int) -> dict[str, float]:
    client = manager_client(manager)
    base = f"/studies/{study.identifier}/"
    timings: dict[str, list[float]] = {name: [] for name in [*PAGES, "floor"]}
    for name, path in [*PAGES.items(), ("floor", "/account/")]:  # warm-up
        response = client.get(path if name == "floor" else base + path)
        assert response.status_code == 200, (name, response.status_code, response.get("Location"))
    for _ in range(repeat):
        for name, path in [*PAGES.items(), ("floor", "/account/")]:
            began = time.perf_counter()
            response = client.get(path if name == "floor" else base + path)
            timings[name].append(time.perf_counter() - began)
            assert response.status_code == 200, (name, response.status_code)
    return {name: statistics.median(values) for name, values in timings.items()}


def _one_size(size: int, repeat: int, database: str) -> dict[str, float]:
    """Run one size in a fresh process and installation; return its figures."""
    with tempfile.TemporaryDirectory(prefix="carnet-bench-lists-") as data:
        env = {**os.environ, "CARNET_DATA_DIR": data, "CARNET_PROFILE": "local"}
        env["DJANGO_SETTINGS_MODULE"] = "carnet.config.settings.local"
        env["CARNET_DEBUG"] = "off"
        name = ""
        if database == "postgresql":
            name = f"carnet_bench_lists_{uuid.uuid4().hex[:8]}"
            subprocess.run(
                ["psql", POSTGRES + "/postgres", "-qc", f"CREATE DATABASE {name}"], check=True
            )
            env["DATABASE_URL"] = f"{POSTGRES}/{name}"
        try:
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(size), "--repeat", str(repeat)],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        finally:
            if name:
                subprocess.run(
                    ["psql", POSTGRES + "/postgres", "-qc", f"DROP DATABASE {name}"], check=False
                )
    figures = dict(item.split("=") for item in out.strip().splitlines()[-1].split())
    return {key: float(value) for key, value in figures.items()}


def _child(size: int, repeat: int) -> None:
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    study, manager, planning = _setup(size)
    figures = _measure(study, manager, repeat)
    figures["planning_per_subject_ms"] = planning / size * 1000
    print(" ".join(f"{key}={value:.6f}" for key, value in figures.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="100 and 800 subjects, 5 repeats (under a minute)."
    )
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        _child(options.child, options.repeat)
        return
    sizes = [100, 800] if options.quick else [int(s) for s in options.sizes.split(",")]
    repeat = 5 if options.quick else options.repeat
    results = {size: _one_size(size, repeat, options.database) for size in sizes}
    small, large = results[sizes[0]], results[sizes[-1]]
    print(f"database {options.database}; median of {repeat} requests; floor = /account/")
    print(f"{'page':<20}" + "".join(f"{size:>12,} subj." for size in sizes) + "  growth  x floor")
    for name in [*PAGES, "floor"]:
        row = "".join(f"{results[size][name] * 1000:>15.1f} ms"[-18:] for size in sizes)
        print(
            f"{name:<20}{row}  {large[name] / small[name]:>5.2f}  "
            f"{large[name] / large['floor']:>6.2f}"
        )
    for size in sizes:
        print(f"planning at {size:,}: {results[size]['planning_per_subject_ms']:.2f} ms/subject")
    worst = max(PAGES, key=lambda name: large[name])
    print(
        f"{options.database} {sizes[-1]} subjects: list {large['list'] * 1000:.0f} ms, "
        f"overdue {large['overdue'] * 1000:.0f} ms, floor {large['floor'] * 1000:.0f} ms; "
        f"slowest {worst} {large[worst] * 1000:.0f} ms; growth {sizes[0]}->{sizes[-1]} "
        f"list {large['list'] / small['list']:.2f} "
        f"overdue {large['overdue'] / small['overdue']:.2f}"
    )


if __name__ == "__main__":
    main()
