"""Benchmark: the CPU time of one save through the pipeline, in process (no HTTP, no server).

bench/capture_save.py measures what a client sees, but on a shared machine its rates swing with
the load of other processes (the same code gave ratios from 0.08 to 0.17 within minutes). This
measures what a change to the pipeline costs: the process's own CPU time (SQLite runs in
process, so the database's work counts too) for N saves of a new visit's 25-item form, the same
form and values as bench/capture_save.py, through `form_save`. Best of R rounds, each on a fresh
subject. To compare two versions of the code, run each (e.g. one from `git archive`, put first
on PYTHONPATH) one after the other, several times.

    .venv/bin/python bench/capture_save_cpu.py [--saves 100] [--rounds 5] [--quick]

`--quick` (30 saves, 3 rounds) answers in well under a minute.

The last line holds the figure.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--saves", type=int, default=100, help="Saves per round.")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="30 saves, 3 rounds.")
    options = parser.parse_args()
    if options.quick:
        options.saves, options.rounds = 30, 3
    with tempfile.TemporaryDirectory(prefix="carnet-bench-cpu-") as data_dir:
        os.environ.update({"CARNET_DATA_DIR": data_dir, "DJANGO_SETTINGS_MODULE": "bench_settings"})
        os.environ.pop("DATABASE_URL", None)
        sys.path.insert(0, str(BENCH))
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        from capture_save import SETUP, form_values

        # The same study, site, person and subjects as the HTTP benchmark (one per round).
        sys.argv = ["setup", str(options.rounds + 1), str(BENCH / "capture-bench.yaml")]
        with contextlib.redirect_stdout(io.StringIO()) as printed:
            exec(SETUP, {"__name__": "setup"})  # noqa: S102 (the benchmark's own setup text)
        *identifiers, counted = printed.getvalue().splitlines()[-1].split()

        from django.db import connection

        from carnet.accounts.models import User
        from carnet.capture.services import form_save
        from carnet.subjects.models import Subject

        person = User.objects.get(username="bench")

        def saves(identifier: str, count: int) -> None:
            subject = Subject.objects.get(identifier=identifier)
            for visit in range(1, count + 1):
                form_save(
                    actor=person,
                    subject=subject,
                    event="visit",
                    occurrence=visit,
                    form="assessment",
                    base_version=0,
                    values=form_values(0, visit),
                )

        per_save = []
        for identifier in identifiers:
            started = time.process_time()
            saves(identifier, options.saves)
            per_save.append((time.process_time() - started) / options.saves)
        # Statements per save, counted apart from the timed rounds (the count does not vary).
        statements: list[str] = []
        with connection.execute_wrapper(
            lambda run, sql, *rest: statements.append(sql) or run(sql, *rest)
        ):
            saves(counted, 10)
    best, median = min(per_save), sorted(per_save)[len(per_save) // 2]
    print(
        f"sqlite in process: {options.rounds} rounds of {options.saves} saves (25 values each); "
        f"CPU per save: best {best * 1000:.2f} ms, median {median * 1000:.2f} ms; "
        f"{len(statements) / 10:g} statements per save"
    )
    print(
        f"cpu_per_save_best_ms={best * 1000:.2f} cpu_per_save_median_ms={median * 1000:.2f} "
        f"statements_per_save={len(statements) / 10:g}"
    )


if __name__ == "__main__":
    main()
