"""Benchmark: one page of a study's audit trail at 20,000 and 200,000 events (or more).

A fresh installation (a temporary data directory, SQLite; or a fresh PostgreSQL database,
dropped at the end) is migrated and given ACC-209 (examples/studies/simon-phase2.yaml) and a
data manager; ``size`` synthetic `item.changed` events of 1,000 subjects are appended to the
study's chain in bulk. Then, as the data manager, through the selector the page and the API
use (`oversight.trail.trail_page`, blinding and all): the latest page, a page 90% of the way
down the chain by keyset (`before=`), and the first page filtered on one subject and on one
item. The floor is the same deep page read the way keyset paging avoids, by OFFSET, measured
in the same run. Each is asked ``--repeat`` times, interleaved; the median is kept. Reported:
each read's time at each size and its growth from the smaller size to the larger: keyset pages
stay flat while the OFFSET floor grows with the chain.

    .venv/bin/python bench/audit_trail.py [--quick] [--sizes 20000,200000] [--repeat 9]
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
from datetime import timedelta
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPOSITORY = BENCH.parent
POSTGRES = "postgres://postgres@127.0.0.1:5432"
READS = ("latest", "deep_keyset", "subject", "item", "deep_offset")


def _setup(size: int) -> tuple[Any, Any]:
    from carnet.accounts.roles import Role
    from carnet.accounts.services import role_grant, user_create
    from carnet.audit.models import AuditEvent
    from carnet.audit.services import SystemActor
    from carnet.core.clock import utc_now, utc_today
    from carnet.studies.definition import study_file_read
    from carnet.studies.services import study_load, study_publish

    actor = SystemActor(label="bench/audit_trail.py")
    path = REPOSITORY / "examples" / "studies" / "simon-phase2.yaml"
    study = study_load(actor=actor, study_file=study_file_read(path), source_name=path.name).study
    study_publish(actor=actor, study=study)
    study.refresh_from_db()
    manager = user_create(actor=actor, username="manager", password="a long bench password")  # noqa: S106
    role_grant(
        actor=actor,
        user=manager,
        study=study,
        site=None,
        role=Role.DATA_MANAGER,
        starts_on=utc_today() - timedelta(days=30),
    )
    chain = study.audit_chain
    first = (AuditEvent.objects.filter(chain=chain).order_by("-seq").first()).seq  # type: ignore[union-attr]
    now = utc_now()
    batch = []
    for n in range(size):
        subject = f"01-{n % 1000:04d}"
        batch.append(
            AuditEvent(
                chain=chain,
                seq=first + n + 1,
                occurred_at=now,
                actor_id=None,
                actor_label="bench",
                action="item.changed",
                target_type="capture.itemvalue",
                target_id=f"{n}:weight:0",
                old=None,
                new={
                    "text": str(60 + n % 40),
                    "missing": "",
                    "removed": False,
                    "subject": subject,
                    "event": "baseline",
                    "occurrence": 1,
                    "form": "vitals" if n % 2 else "labs",
                    "item": "weight" if n % 7 else "height",
                    "row": 0,
                },
                reason="",
                scheme=1,
                prev_hash="0" * 64,
                hash=f"{n:064x}",
            )
        )
        if len(batch) == 5000:
            AuditEvent.objects.bulk_create(batch)
            batch = []
    AuditEvent.objects.bulk_create(batch)
    return study, manager


def _measure(study: Any, manager: Any, size: int, repeat: int) -> dict[str, float]:
    from carnet.audit.models import AuditEvent
    from carnet.oversight.trail import PER_PAGE, TrailFilters, trail_page

    head = AuditEvent.objects.filter(chain=study.audit_chain).order_by("-seq").first()
    deep = head.seq - size * 9 // 10  # type: ignore[union-attr]
    reads = {
        "latest": lambda: trail_page(manager, study=study, filters=TrailFilters()),
        "deep_keyset": lambda: trail_page(
            manager, study=study, filters=TrailFilters(), before=deep
        ),
        "subject": lambda: trail_page(
            manager, study=study, filters=TrailFilters(subject="01-0500")
        ),
        "item": lambda: trail_page(manager, study=study, filters=TrailFilters(item="height")),
        # The floor: the same deep page by OFFSET, what keyset paging avoids.
        "deep_offset": lambda: list(
            AuditEvent.objects.filter(chain=study.audit_chain).order_by("-seq")[
                size * 9 // 10 : size * 9 // 10 + PER_PAGE
            ]
        ),
    }
    timings: dict[str, list[float]] = {name: [] for name in reads}
    for _ in range(repeat):
        for name, read in reads.items():
            began = time.perf_counter()
            found = read()
            timings[name].append(time.perf_counter() - began)
            rows = found if isinstance(found, list) else found.rows
            assert rows, name
    return {name: statistics.median(values) for name, values in timings.items()}


def _one_size(size: int, repeat: int, database: str) -> dict[str, float]:
    """Run one size in a fresh process and installation; return its figures."""
    with tempfile.TemporaryDirectory(prefix="carnet-bench-trail-") as data:
        env = {**os.environ, "CARNET_DATA_DIR": data, "CARNET_PROFILE": "local"}
        env["DJANGO_SETTINGS_MODULE"] = "carnet.config.settings.local"
        env["CARNET_DEBUG"] = "off"
        name = ""
        if database == "postgresql":
            name = f"carnet_bench_trail_{uuid.uuid4().hex[:8]}"
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
    study, manager = _setup(size)
    figures = _measure(study, manager, size, repeat)
    print(" ".join(f"{key}={value:.6f}" for key, value in figures.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="20,000 and 100,000 events, 5 repeats (< 1 min)."
    )
    parser.add_argument("--sizes", default="20000,200000")
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        _child(options.child, options.repeat)
        return
    sizes = [20000, 100000] if options.quick else [int(s) for s in options.sizes.split(",")]
    repeat = 5 if options.quick else options.repeat
    results = {size: _one_size(size, repeat, options.database) for size in sizes}
    small, large = results[sizes[0]], results[sizes[-1]]
    print(f"database {options.database}; median of {repeat}; floor = the deep page by OFFSET")
    print(f"{'read':<14}" + "".join(f"{size:>12,} ev." for size in sizes) + "  growth")
    for name in READS:
        row = "".join(f"{results[size][name] * 1000:>13.1f} ms" for size in sizes)
        print(f"{name:<14}{row}  {large[name] / small[name]:>5.2f}")
    print(
        f"{options.database} {sizes[-1]} events: latest page {large['latest'] * 1000:.1f} ms, "
        f"deep page by keyset {large['deep_keyset'] * 1000:.1f} ms "
        f"(growth {large['deep_keyset'] / small['deep_keyset']:.2f}) vs floor by OFFSET "
        f"{large['deep_offset'] * 1000:.1f} ms (growth "
        f"{large['deep_offset'] / small['deep_offset']:.2f}); one subject "
        f"{large['subject'] * 1000:.1f} ms; one item {large['item'] * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
