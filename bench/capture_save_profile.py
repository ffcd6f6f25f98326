"""Where a save's time goes, in process: the HTTP path (middleware, ninja, token) and form_save.

bench/capture_save.py measures the save through `carnet serve`; on a shared machine its rates
swing with other processes' load. This runs the same saves of the bench form in one process,
through Django's test client (the whole middleware stack, the API router, token auth, the
answer) and through `form_save` alone, and reports the process's CPU time per save for each,
the statements per save, and with ``--profile`` the functions that took the most CPU.

    .venv/bin/python bench/capture_save_profile.py [--quick] [--saves 60] [--rounds 3] [--profile]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/DB \
        .venv/bin/python bench/capture_save_profile.py

On PostgreSQL the database's own work runs in another process and is not counted in the CPU
figure; the statements are. The database named by DATABASE_URL must exist and be empty
(it is migrated here). The last line holds the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import pstats
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent


def main() -> None:  # noqa: C901 (a benchmark script, read top to bottom)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--saves", type=int, default=60, help="Saves per round.")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="20 saves, 2 rounds.")
    parser.add_argument("--profile", action="store_true", help="Print a cProfile of each path.")
    parser.add_argument(
        "--steps", action="store_true", help="Wall time of each named step of the HTTP save."
    )
    options = parser.parse_args()
    if options.quick:
        options.saves, options.rounds = 20, 2
    with tempfile.TemporaryDirectory(prefix="carnet-bench-profile-") as data_dir:
        os.environ.update({"CARNET_DATA_DIR": data_dir, "DJANGO_SETTINGS_MODULE": "bench_settings"})
        sys.path.insert(0, str(BENCH))
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        from capture_save import SETUP, STUDY, form_values

        # Warm-up, rounds, statement count and profile: two paths each, a fresh subject every time.
        subjects_needed = 2 * (options.rounds + 3) + 1
        sys.argv = ["setup", str(subjects_needed), str(BENCH / "capture-bench.yaml")]
        with contextlib.redirect_stdout(io.StringIO()) as printed:
            exec(SETUP, {"__name__": "setup"})  # noqa: S102 (the benchmark's own setup text)
        token, subject_line = printed.getvalue().splitlines()[-2:]
        identifiers = subject_line.split()

        from django.db import connection
        from django.test import Client

        from carnet.accounts.models import User
        from carnet.capture.services import form_save
        from carnet.subjects.models import Subject

        person = User.objects.get(username="bench")
        client = Client(headers={"Authorization": f"Bearer {token.strip()}"}, HTTP_HOST="127.0.0.1")

        def in_process(identifier: str, count: int) -> None:
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

        def over_http(identifier: str, count: int) -> None:
            for visit in range(1, count + 1):
                answer = client.put(
                    f"/api/studies/{STUDY}/subjects/{identifier}/forms/visit/{visit}/assessment",
                    data=json.dumps({"version": 0, "values": form_values(0, visit)}),
                    content_type="application/json",
                )
                assert answer.status_code == 200, answer.content[:300]

        def vendor_name() -> str:
            return connection.vendor

        paths: dict[str, Callable[[str, int], None]] = {"http": over_http, "form_save": in_process}
        figures: dict[str, list[float]] = {name: [] for name in paths}
        statements: dict[str, float] = {}
        subjects = iter(identifiers)
        # Warm both paths (first queries, caches of the study's definition) outside the rounds.
        for run in paths.values():
            run(next(subjects), 5)
        for _ in range(options.rounds):
            for name, run in paths.items():  # alternated, so a burst of load hits both
                identifier = next(subjects)
                started = time.process_time()
                run(identifier, options.saves)
                figures[name].append((time.process_time() - started) / options.saves)
        for name, run in paths.items():
            seen: list[str] = []
            took: dict[str, float] = {}

            def count(
                execute: Any, sql: str, *rest: Any, seen: list[str] = seen, took: dict = took
            ) -> Any:
                seen.append(sql)
                started = time.perf_counter()
                try:
                    return execute(sql, *rest)
                finally:
                    took[sql] = took.get(sql, 0.0) + time.perf_counter() - started

            with connection.execute_wrapper(count):
                run(next(subjects), 10)
            statements[name] = len(seen) / 10
            if options.steps:
                print(f"{name}: wall per statement, ms per save (10 saves)")
                for sql, seconds in sorted(took.items(), key=lambda kv: -kv[1])[:20]:
                    print(f"  {100 * seconds:6.2f}  {sql[:110]}")
            if options.profile:
                for sql in seen[: len(seen) // 10]:
                    print("   ", sql[:160])
        if options.steps:
            steps_time(lambda: over_http(next(subjects), options.saves), options.saves)
        if options.profile:
            for name, run in paths.items():
                profile = cProfile.Profile()
                profile.enable()
                run(next(subjects), options.saves)
                profile.disable()
                profile.dump_stats(
                    f"{tempfile.gettempdir()}/capture_save_{vendor_name()}_{name}.prof"
                )
                print(f"--- {name}: {options.saves} saves, cumulative")
                pstats.Stats(profile).sort_stats("cumulative").print_stats(45)
                print(f"--- {name}: own time")
                pstats.Stats(profile).sort_stats("tottime").print_stats(30)
    vendor = connection.vendor
    line = " ".join(
        f"{name}_cpu_ms={1000 * min(values):.2f} {name}_statements={statements[name]:g}"
        for name, values in figures.items()
    )
    for name, values in figures.items():
        print(
            f"{vendor} {name}: CPU per save best {1000 * min(values):.2f} ms, rounds "
            + ", ".join(f"{1000 * v:.2f}" for v in values)
            + f"; {statements[name]:g} statements per save"
        )
    print(f"{vendor} {line}")


def steps_time(run: Callable[[], None], saves: int) -> None:
    """Print the wall time per save of each named step of the save over HTTP (steps nest: the
    pipeline's steps are inside form_save, the listeners inside "listeners")."""
    from carnet.capture import api, seams, services
    from carnet.config import api as config_api

    spent: dict[str, float] = {}

    def timed(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def step(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[name] = spent.get(name, 0.0) + time.perf_counter() - started

        return step

    patched: list[tuple[Any, str, Any]] = []

    def patch(owner: Any, attribute: str, name: str) -> None:
        original = getattr(owner, attribute)
        patched.append((owner, attribute, original))
        setattr(owner, attribute, timed(name, original))

    patch(config_api.BearerToken, "authenticate", "token and second factor (memberships)")
    patch(api, "_subject", "subject and roles")
    patch(services, "form_save", "form_save (transaction, commit included)")
    patch(services, "_target_lock", "  form instance, locked")
    patch(services, "save_guards_run", "  guards")
    patch(services, "_values_read", "  values read")
    patch(services, "_entry_allowed", "  withdrawals")
    for attribute in ("_calculations_compute", "_branching_apply", "_checks_evaluate"):
        patch(services, attribute, "  rules (calculations, branching, checks)")
    patch(services, "_instance_status_write", "  form instance written")
    patch(services, "_item_values_write", "  values written")
    patch(services, "save_listeners_run", "  listeners")
    patch(services, "audit_record_many", "  audit events (chain locked)")
    listeners = list(seams.SAVE_LISTENERS)
    seams.SAVE_LISTENERS[:] = [
        timed(f"    {listener.__module__}.{listener.__name__}", listener) for listener in listeners
    ]
    patch(api.selectors, "form_shown", "answer")
    started = time.perf_counter()
    try:
        run()
    finally:
        total = time.perf_counter() - started
        for owner, attribute, original in patched:
            setattr(owner, attribute, original)
        seams.SAVE_LISTENERS[:] = listeners
    print(f"wall per save over HTTP in process: {1000 * total / saves:.2f} ms")
    for name, seconds in spent.items():
        print(f"  {name}: {1000 * seconds / saves:.2f} ms")


if __name__ == "__main__":
    main()
