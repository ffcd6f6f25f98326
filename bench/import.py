"""Benchmark: the bulk import path (capture/bulk) on a million values, beside a plain insert.

A fresh installation (a temporary SQLite file, or a fresh PostgreSQL database dropped at the
end) is given the study of bench/checks_bulk.py (a vitals form of 10 items and a laboratory form
of 20, at baseline and ten cycles, 50 soft checks, about 2 % of values out of range) and its
subjects. Measured in one process:

- the floor: a plain bulk insert of the same kind of rows (bench/checks_bulk.py's loader: form
  instances and values by PostgreSQL COPY or SQLite executemany, no validation, no checks, no
  audit), in a transaction rolled back;
- two upper bounds for any implementation that keeps one hash-chained audit event per value:
  the floor plus the bare hash chain of the events (no event row written), and the floor plus
  one plain event row per value written as the values are (no JSON made, nothing hashed): the
  database's own cost of storing the trail, which no use of the other core can hide;
- the import: `forms_import` of every subject's forms (330 values per subject) with validation,
  calculations, branching, the 50 soft checks, the registered guards and listeners (automatic
  queries for the checks that fire…), check results, statuses and one audit event per value,
  in one transaction;
- a second run of the same import (changes nothing).

    .venv/bin/python bench/import.py [--quick] [--subjects 3100]
        [--database sqlite|postgresql] [--profile FILE]

``--profile FILE`` writes a cProfile of the first import (read it with pstats).

The last line holds the figures.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import checks_bulk

POSTGRES = checks_bulk.POSTGRES


def _records(study: Any) -> list[Any]:
    from carnet.capture.bulk import FormRecord
    from carnet.subjects.models import Subject

    rng = random.Random("import-bench")
    records = []
    for subject in Subject.objects.filter(study=study).select_related("site", "study"):
        weight = rng.uniform(45, 110)
        for occurrence in range(0, checks_bulk.CYCLES + 1):
            event, number = ("baseline", 1) if occurrence == 0 else ("cycle", occurrence)
            day = subject.included_on + timedelta(days=21 * occurrence)
            vitals = dict(
                zip(checks_bulk.VITALS, checks_bulk._vitals(rng, day, weight), strict=True)
            )
            labs = {
                item: text
                for item, text in zip(checks_bulk.LABS, checks_bulk._labs(rng), strict=True)
                if text
            }
            for form, values in (("vitals", vitals), ("labs", labs)):
                records.append(
                    FormRecord(
                        subject=subject,
                        event=event,
                        occurrence=number,
                        form=form,
                        values=values,
                        source=f"{form}.csv:{len(records) + 2}",
                    )
                )
    return records


def _audit_floor(study: Any, values: int) -> None:
    from carnet.audit.services import AuditEntry, SystemActor, audit_record_many

    entries = [
        AuditEntry(
            action="item.changed",
            target=("capture.itemvalue", f"{index}:hb:0"),
            old=None,
            new={
                "text": "12.5",
                "number": "12.5",
                "event": "cycle",
                "occurrence": 3,
                "form": "labs",
                "item": "hb",
                "row": 0,
            },
            reason="bench import",
        )
        for index in range(values)
    ]
    audit_record_many(
        actor=SystemActor(label="bench/import.py"), entries=entries, chain=study.audit_chain
    )


EVENT_COLUMNS = [
    "chain", "seq", "occurred_at", "actor_id", "actor_label", "action", "target_type",
    "target_id", "old", "new", "reason", "scheme", "prev_hash", "hash",
]  # fmt: skip


def _event_rows_write(values: int) -> None:
    """Write one plain audit event row per value, as the floor writes the values: rows made
    beforehand, COPY on PostgreSQL, executemany on SQLite, no JSON made and nothing hashed.
    With the values' floor, the least any implementation that stores one event row per value
    must spend in the database alone, however its CPU work is shared between the cores."""
    from django.db import connection

    from carnet.audit.models import AuditEvent

    new = (
        '{"event":"cycle","form":"labs","item":"hb","number":"12.5","occurrence":3,'
        '"row":0,"text":"12.5"}'
    )
    digest = "0" * 64
    rows = [
        ("bench:storage", seq, "2026-12-07 00:00:00+00:00", None, "bench/import.py",
         "item.changed", "capture.itemvalue", f"{seq}:hb:0", None, new, "bench import", 1,
         digest, digest)
        for seq in range(1, values + 1)
    ]  # fmt: skip
    checks_bulk.rows_write(connection, AuditEvent._meta.db_table, EVENT_COLUMNS, rows)


def _bare_chain_seconds(values: int) -> float:
    """Seconds to chain ``values`` events with nothing but the hash itself (canonical JSON and
    SHA-256 of each, as the audit scheme defines): the least any implementation keeping one
    hash-chained audit event per value must spend, before it writes a single row."""
    import hashlib
    import json

    event: dict[str, Any] = {
        "scheme": 1, "chain": "study:BENCH", "seq": 0,
        "occurred_at": "2026-12-05T03:55:00.000000Z", "actor_id": None,
        "actor_label": "bench/import.py", "action": "item.changed",
        "target_type": "capture.itemvalue", "target_id": "1:hb:0", "old": None,
        "new": {"text": "12.5", "number": "12.5", "event": "cycle", "occurrence": 3,
                "form": "labs", "item": "hb", "row": 0},
        "reason": "bench import", "prev_hash": "0" * 64,
    }  # fmt: skip
    began = time.perf_counter()
    previous = event["prev_hash"]
    for seq in range(1, values + 1):
        event["seq"], event["prev_hash"] = seq, previous
        text = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        previous = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return time.perf_counter() - began


def _child(subjects: int, profile: str = "") -> None:
    import django
    from django.core.management import call_command
    from django.db import connection, transaction

    django.setup()
    call_command("migrate", verbosity=0)
    from carnet.audit.models import AuditEvent
    from carnet.audit.services import SystemActor
    from carnet.capture.bulk import forms_import

    with transaction.atomic():
        study = checks_bulk._setup(subjects)
    # The floor: the same kind of rows inserted plainly, then rolled back.
    began = time.perf_counter()
    with transaction.atomic():
        floor_values = checks_bulk._load(study)
        floor_seconds = time.perf_counter() - began
        # What any implementation keeping one hash-chained audit event per value must add:
        # the events of the same number of values, hashed and appended (Carnet's append).
        began = time.perf_counter()
        _audit_floor(study, floor_values)
        audit_seconds = time.perf_counter() - began
        transaction.set_rollback(True)
    # The storage floor: the values' rows and one plain event row each, nothing else.
    with transaction.atomic():
        began = time.perf_counter()
        checks_bulk._load(study)
        _event_rows_write(floor_values)
        storage_seconds = time.perf_counter() - began
        transaction.set_rollback(True)
    hash_seconds = _bare_chain_seconds(floor_values)
    records = _records(study)
    values = sum(len(r.values) for r in records)
    actor = SystemActor(label="bench/import.py")
    events = AuditEvent.objects.count()
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    began = time.perf_counter()
    first = forms_import(actor=actor, study=study, records=records, reason="bench import")
    first_seconds = time.perf_counter() - began
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile)
    audit_events = AuditEvent.objects.count() - events
    began = time.perf_counter()
    second = forms_import(actor=actor, study=study, records=records, reason="bench import")
    second_seconds = time.perf_counter() - began
    figures = {
        "values": values,
        "values_written": first.values_changed,
        "forms": len(records),
        "soft_checks": first.soft_checks,
        "audit_events": audit_events,
        "first_s": first_seconds,
        "second_s": second_seconds,
        "second_changed": second.values_changed,
        "floor_values": floor_values,
        "floor_s": floor_seconds,
        "audit_s": audit_seconds,
        "storage_s": storage_seconds,
        "hash_s": hash_seconds,
        "vendor": connection.vendor,
    }
    print(" ".join(f"{key}={value}" for key, value in figures.items()))


def _run(subjects: int, database: str, profile: str = "") -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="carnet-bench-import-") as data:
        env = {**os.environ, "CARNET_DATA_DIR": data, "CARNET_PROFILE": "local"}
        env["DJANGO_SETTINGS_MODULE"] = "carnet.config.settings.local"
        env["CARNET_DEBUG"] = "off"
        env.pop("DATABASE_URL", None)
        name = ""
        if database == "postgresql":
            name = f"carnet_bench_import_{uuid.uuid4().hex[:8]}"
            subprocess.run(
                ["psql", POSTGRES + "/postgres", "-qc", f"CREATE DATABASE {name}"], check=True
            )
            env["DATABASE_URL"] = f"{POSTGRES}/{name}"
        try:
            completed = subprocess.run(
                [sys.executable, __file__, "--child", str(subjects)]
                + (["--profile", os.path.abspath(profile)] if profile else []),
                env=env,
                capture_output=True,
                text=True,
            )
            if completed.returncode != 0:
                sys.stderr.write(completed.stderr)
                raise SystemExit(completed.returncode)
        finally:
            if name:
                subprocess.run(
                    ["psql", POSTGRES + "/postgres", "-qc", f"DROP DATABASE {name}"], check=False
                )
    figures = dict(item.split("=") for item in completed.stdout.strip().splitlines()[-1].split())
    return {k: (v if k == "vendor" else float(v)) for k, v in figures.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="40 subjects (about 13,000 values).")
    parser.add_argument("--subjects", type=int, default=3_100, help="330 values each.")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--profile", default="", help="Write a cProfile of the first import.")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        _child(options.child, options.profile)
        return
    subjects = 40 if options.quick else options.subjects
    f = _run(subjects, options.database, options.profile)
    rate = f["values"] / f["first_s"]
    floor_rate = f["floor_values"] / f["floor_s"]
    # The best rate an import keeping the per-value audit trail could reach on this machine.
    ceiling_rate = f["floor_values"] / (f["floor_s"] + f["audit_s"])
    # An upper bound for any implementation: the plain insert of the values plus the bare hash
    # chain of their events (no event row written, no validation, no check).
    bound_rate = f["floor_values"] / (f["floor_s"] + f["hash_s"])
    # Another: the values' rows and one plain event row each, written by the database alone
    # (no JSON, no hash): what storing the trail costs, whatever runs beside it on the cores.
    storage_rate = f["floor_values"] / f["storage_s"]
    print(
        f"database {options.database}; {subjects:,} subjects, {f['forms']:,.0f} forms, "
        f"{f['values']:,.0f} values sent, {f['values_written']:,.0f} written (calculated "
        f"included), {f['soft_checks']:,.0f} soft checks fire, {f['audit_events']:,.0f} audit "
        "events"
    )
    print(f"floor (plain insert): {f['floor_s']:.2f} s, {floor_rate:,.0f} values/s")
    print(
        f"floor + one audit event per value: {f['floor_s'] + f['audit_s']:.2f} s, "
        f"{ceiling_rate:,.0f} values/s"
    )
    print(
        f"floor + bare hash chain (no event rows, an upper bound): "
        f"{f['floor_s'] + f['hash_s']:.2f} s, {bound_rate:,.0f} values/s"
    )
    print(
        f"floor + one plain event row per value (no JSON, no hash, an upper bound): "
        f"{f['storage_s']:.2f} s, {storage_rate:,.0f} values/s"
    )
    print(f"import: {f['first_s']:.2f} s, {rate:,.0f} values/s")
    print(f"second run: {f['second_s']:.2f} s, {f['second_changed']:.0f} values changed")
    print(
        f"{options.database} values={f['values']:.0f} import_values_per_s={rate:.0f} "
        f"floor_values_per_s={floor_rate:.0f} ratio_to_floor={floor_rate / rate:.1f} "
        f"floor_with_audit_values_per_s={ceiling_rate:.0f} "
        f"ratio_to_floor_with_audit={ceiling_rate / rate:.1f} "
        f"upper_bound_values_per_s={bound_rate:.0f} "
        f"storage_bound_values_per_s={storage_rate:.0f} "
        f"second_run_s={f['second_s']:.2f} second_changed={f['second_changed']:.0f} "
        f"target_100000={'met' if rate >= 100_000 else 'missed'}"
    )


if __name__ == "__main__":
    main()
