"""Benchmark: exporting every form of a study at a cut-off (CSV and Parquet), beside the floor.

A fresh installation (a temporary data directory, SQLite; or a fresh PostgreSQL database,
dropped at the end) is migrated and given a synthetic study: 10 forms of 20 items (integers,
decimals, dates, codes, text) at a baseline and at cycles, plus a repeating group of lesions.
Subjects, form instances, item values and their `item.changed` audit events are written in bulk
(through `audit_record_many`, so the chain is real), then a cut-off is named. Each measurement
runs in a process of its own, which reports its time and its peak memory (ru_maxrss; from
SQLite the values are read by a process of the export's own, `carnet.db.sqlite_reader`, whose
peak is added: an upper bound, as the two need not peak at once and the kernel counts in the
reading process's peak the memory of the process that started it):

- the export, CSV (with the SAS and R programs) and Parquet, into a zip (`export_to_path`);
- the floor: a plain read of the current item values of the study into one Polars frame
  through Django's cursor (a Python tuple per row);
- floor_arrow: the same read through ADBC (`carnet.db.arrow`: Arrow record batches handed to
  Polars), the way the export reads them outside a transaction (from SQLite, by a process of
  its own).

Run at two sizes, the peak memory of the larger export says whether memory stays flat.

    .venv/bin/python bench/export.py [--quick] [--sizes 1000,10000] [--database sqlite|postgresql]

The last line holds the figures.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

POSTGRES = "postgres://postgres@127.0.0.1:5432"
FORMS = 10
ITEMS = 20
# 1 + 9 visits of 10 forms of 20 items, and 3 lesions of 2 items: 2,006 values a subject, so
# that 10,000 subjects hold the "about 20 million item values" (BENCH_CYCLES changes it).
CYCLES = int(os.environ.get("BENCH_CYCLES", "9"))
LESIONS = 3
KINDS = ("integer", "decimal", "date", "single_choice", "text")
TASKS = ("floor", "floor_arrow", "csv", "parquet")


def _study_yaml() -> str:
    forms, names = [], []
    for f in range(FORMS):
        items = []
        for i in range(ITEMS):
            kind = KINDS[i % len(KINDS)]
            extra = ", code_list: grade" if kind == "single_choice" else ""
            items.append(
                f"          - {{name: f{f}_i{i}, type: {kind}{extra}, "
                f"label: {{en: Item {i}, fr: Item {i}}}}}"
            )
        names.append(f"form{f}")
        forms.append(
            f"  - name: form{f}\n    label: {{en: Form {f}, fr: Formulaire {f}}}\n    groups:\n"
            f"      - name: g{f}\n        items:\n" + "\n".join(items)
        )
    forms.append(
        "  - name: lesions\n    label: {en: Lesions, fr: Lésions}\n    groups:\n"
        "      - name: target\n        repeating: true\n        items:\n"
        "          - {name: lesion_site, type: text, label: {en: Site, fr: Site}}\n"
        "          - {name: diameter, type: integer, label: {en: Diameter, fr: Diamètre}}"
    )
    listed = ", ".join(names)
    return (
        f"""format: carnet-study/1
study:
  identifier: BENCHX
  title: {{en: Export bench, fr: Banc d'export}}
  phase: II
  sponsor: Bench
arms:
  - {{name: a, label: {{en: A, fr: A}}}}
  - {{name: b, label: {{en: B, fr: B}}}}
code_lists:
  - name: grade
    type: integer
    items:
      - {{code: 0, label: {{en: None, fr: Aucun}}}}
      - {{code: 1, label: {{en: Mild, fr: Léger}}}}
      - {{code: 2, label: {{en: Severe, fr: Sévère}}}}
events:
  - name: baseline
    label: {{en: Baseline, fr: Inclusion}}
    schedule: {{anchor: inclusion}}
    forms: [{listed}, lesions]
  - name: cycle
    label: {{en: Cycle, fr: Cycle}}
    schedule: {{anchor: event:baseline, offset_days: 21}}
    forms: [{listed}]
forms:
"""
        + "\n".join(forms)
        + "\n"
    )


def _text(kind: str, rng: random.Random, day: date) -> str:
    if kind == "integer":
        return str(rng.randint(0, 300))
    if kind == "decimal":
        return f"{rng.uniform(0, 200):.1f}"
    if kind == "date":
        return (day + timedelta(days=rng.randint(0, 30))).isoformat()
    if kind == "single_choice":
        return str(rng.randint(0, 2))
    return rng.choice(("liver", "lung", "node", "bone", "skin"))


def _setup(size: int) -> None:
    """Write the study, its subjects, their forms, values and audit events; name a cut-off."""
    from carnet.accounts.services import centre_add, site_activate, site_add
    from carnet.audit.services import AuditEntry, SystemActor, audit_record_many
    from carnet.interop.services import cutoff_create
    from carnet.studies.definition import study_file_read
    from carnet.studies.models import Study
    from carnet.studies.services import study_load, study_mode_change, study_publish
    from carnet.subjects.models import Subject

    actor = SystemActor(label="bench/export.py")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "benchx.yaml"
        path.write_text(_study_yaml(), encoding="utf-8")
        study = study_load(actor=actor, study_file=study_file_read(path), source_name=path.name)
    study = study.study
    study_publish(actor=actor, study=study)
    study.refresh_from_db()
    study = study_mode_change(actor=actor, study=study, mode="production")
    study = Study.objects.get(pk=study.pk)
    start = date(2024, 1, 1)
    centre = centre_add(actor=actor, code="BEN", name="Bench centre")
    site = site_activate(
        actor=actor, site=site_add(actor=actor, study=study, centre=centre), on=start
    )
    rng = random.Random(f"export-{size}")
    Subject.objects.bulk_create(
        [
            Subject(
                study=study,
                environment="production",
                site=site,
                identifier=f"{site.code}-{n + 1:05d}",
                sequence=n + 1,
                included_on=start + timedelta(days=n % 700),
                study_status="included",
                study_status_on=start + timedelta(days=n % 700),
                last_news_on=start + timedelta(days=n % 700),
            )
            for n in range(size)
        ],
        batch_size=2000,
    )
    subjects = list(Subject.objects.filter(study=study).order_by("pk"))
    audit_record_many(
        actor=actor,
        chain=study.audit_chain,
        entries=[
            AuditEntry(
                "subject.included",
                target=subject,
                new={
                    "identifier": subject.identifier,
                    "environment": "production",
                    "site": site.code,
                    "included_on": subject.included_on,
                    "status": "included",
                },
            )
            for subject in subjects
        ],
    )
    synthetic_values(study, subjects, rng)
    cutoff_create(actor=actor, study=study, name="BENCH", reason="benchmark")
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def _instances(study: Any, subjects: list[Any]) -> list[tuple[int, Any, str, str, int]]:
    """Write the subjects' form instances in bulk: (pk, subject, form, event, occurrence)."""
    from carnet.capture.models import FormInstance

    version = study.current_version
    plan = [
        (event, occurrence, form)
        for event, occurrence in [("baseline", 1)] + [("cycle", c) for c in range(1, CYCLES + 1)]
        for form in [f"form{f}" for f in range(FORMS)]
        + (["lesions"] if event == "baseline" else [])
    ]
    made = []
    for start in range(0, len(subjects), 500):
        batch = [
            FormInstance(
                subject=subject,
                environment="production",
                event=event,
                occurrence=occurrence,
                form=form,
                study_version=version,
                status="complete",
                version=1,
            )
            for subject in subjects[start : start + 500]
            for event, occurrence, form in plan
        ]
        FormInstance.objects.bulk_create(batch, batch_size=5000)
        made += [(i.pk, i.subject, i.form, i.event, i.occurrence) for i in batch]
    return made


def synthetic_values(study: Any, subjects: list[Any], rng: random.Random) -> None:
    """Write the item values and their `item.changed` events with plain multi-row INSERTs.

    The audit service hashes each event as it chains it (about 1,500 values a second): far too
    slow for 20 million. Here the events carry the chain's positions but a placeholder hash (the
    export reads the events up to the cut-off; it does not verify the chain), and the chain head
    is moved to the last one so that the cut-off names it (on PostgreSQL with the head's
    forward-only trigger switched off for that statement)."""
    import json

    from django.db import connection, transaction

    from carnet.audit.models import AuditEvent, ChainHead
    from carnet.capture.models import ItemValue
    from carnet.core.clock import utc_now

    version_id = study.current_version.pk
    kinds = {f"f{f}_i{i}": KINDS[i % len(KINDS)] for f in range(FORMS) for i in range(ITEMS)}
    chain = study.audit_chain
    head = ChainHead.objects.get(chain=chain)
    seq = head.seq
    now = connection.ops.adapt_datetimefield_value(utc_now())
    cast = "::jsonb" if connection.vendor == "postgresql" else ""
    value_sql = (
        f"INSERT INTO {ItemValue._meta.db_table} (form_instance_id, item, item_oid, "  # noqa: S608
        '"group", row, text, missing_code, removed, hidden, changed_in, study_version_id, '
        "updated_at, updated_by) VALUES (%s, %s, %s, 'g', %s, %s, '', false, false, 0, %s, %s, "
        "'bench')"
    )
    event_sql = (
        f"INSERT INTO {AuditEvent._meta.db_table} (chain, seq, occurred_at, actor_id, "  # noqa: S608
        "actor_label, action, target_type, target_id, old, new, reason, scheme, prev_hash, "
        f"hash) VALUES (%s, %s, %s, NULL, 'bench', 'item.changed', 'capture.itemvalue', %s, "
        f"NULL, %s{cast}, '', 1, %s, %s)"
    )
    placeholder = "0" * 64
    instances = _instances(study, subjects)
    for start in range(0, len(instances), 2000):
        values, events = [], []
        for pk, subject, form, event, occurrence in instances[start : start + 2000]:
            for name, row, text in _cells(form, kinds, rng, subject.included_on):
                seq += 1
                values.append((pk, name, name.upper(), row, text, version_id, now))
                body = {
                    "text": text,
                    "missing": "",
                    "removed": False,
                    "subject": subject.identifier,
                    "event": event,
                    "occurrence": occurrence,
                    "form": form,
                    "repeat": 1,
                    "form_version": 1,
                    "item": name,
                    "row": row,
                }
                events.append(
                    (chain, seq, now, f"{pk}:{name}:{row}", json.dumps(body), placeholder)
                )
        with transaction.atomic(), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                _copy(cursor, values, events)
            else:
                cursor.executemany(value_sql, values)
                cursor.executemany(event_sql, [(*e, placeholder) for e in events])
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # The head's trigger lets it move one hashed event at a time; these events are not
            # hashed, so it is switched off for this one statement (a throwaway database).
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL session_replication_role = replica")
        ChainHead.objects.filter(chain=chain).update(seq=seq, hash=placeholder)


def _cells(
    form: str, kinds: dict[str, str], rng: random.Random, day: date
) -> list[tuple[str, int, str]]:
    """Return one form instance's values: (item, row, text)."""
    if form == "lesions":
        return [
            (name, row, _text(kind, rng, day))
            for row in range(1, LESIONS + 1)
            for name, kind in (("lesion_site", "text"), ("diameter", "integer"))
        ]
    number = form.removeprefix("form")
    return [(f"f{number}_i{i}", 0, _text(kinds[f"f{number}_i{i}"], rng, day)) for i in range(ITEMS)]


def _copy(cursor: Any, values: list[tuple[Any, ...]], events: list[tuple[Any, ...]]) -> None:
    """Write a batch with COPY on PostgreSQL: INSERTs one round trip a row ran at about 4,400
    values a second, which made 20 million values a set-up of more than an hour."""
    from carnet.audit.models import AuditEvent
    from carnet.capture.models import ItemValue

    raw = cursor.cursor
    with raw.copy(
        f"COPY {ItemValue._meta.db_table} (form_instance_id, item, item_oid, "
        '"group", row, text, missing_code, removed, hidden, changed_in, study_version_id, '
        "updated_at, updated_by) FROM STDIN"
    ) as copy:
        for pk, name, oid, row, text, version_id, now in values:
            copy.write_row(
                (pk, name, oid, "g", row, text, "", False, False, 0, version_id, now, "bench")
            )
    with raw.copy(
        f"COPY {AuditEvent._meta.db_table} (chain, seq, occurred_at, actor_id, actor_label, "
        "action, target_type, target_id, old, new, reason, scheme, prev_hash, hash) FROM STDIN"
    ) as copy:
        for chain, seq, now, target, body, placeholder in events:
            copy.write_row(
                (
                    chain,
                    seq,
                    now,
                    None,
                    "bench",
                    "item.changed",
                    "capture.itemvalue",
                    target,
                    None,
                    body,
                    "",
                    1,
                    placeholder,
                    placeholder,
                )
            )


def _peak_mb() -> float:
    """This process's peak resident memory and its children's (the SQLite reading process)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss + children) / 1024


def _measure(what: str, output: Path) -> dict[str, float]:
    """Run one measurement in this process: an export in a format, or the floor."""
    import polars as pl

    from carnet.audit.services import SystemActor
    from carnet.capture.models import ItemValue
    from carnet.interop.exports import export_to_path
    from carnet.interop.models import Cutoff
    from carnet.studies.models import Study

    study = Study.objects.get(identifier="BENCHX")
    before = _peak_mb()
    began = time.perf_counter()
    if what == "floor":
        # No order (the model's default one sorts every value first); the export asks none.
        rows = (
            ItemValue.objects.filter(form_instance__subject__study=study)
            .order_by()
            .values_list("form_instance_id", "item", "row", "text")
        )
        frame = pl.DataFrame(
            list(rows.iterator(chunk_size=50_000)),
            schema={"instance": pl.Int64, "item": pl.String, "row": pl.Int64, "text": pl.String},
            orient="row",
        )
        count = frame.height
    elif what == "floor_arrow":
        from carnet.db.arrow import record_batches

        # No order (the model's default one sorts every value first); the export asks none.
        rows = (
            ItemValue.objects.filter(form_instance__subject__study=study)
            .order_by()
            .values_list("form_instance_id", "item", "row", "text")
        )
        batches = record_batches(rows)
        assert batches is not None, "ADBC reads outside a transaction (carnet.db.arrow says why)"
        frame = pl.concat([pl.from_arrow(batch) for batch in batches])  # type: ignore[misc]
        count = frame.height
    else:
        cutoff = Cutoff.objects.get(study=study, name="BENCH")
        export_to_path(
            actor=SystemActor(label="bench/export.py"),
            study=study,
            cutoff=cutoff,
            file_format=what,
            output=output,
        )
        count = output.stat().st_size
    seconds = time.perf_counter() - began
    return {"seconds": seconds, "peak_mb": _peak_mb(), "start_mb": before, "count": count}


def _child(task: str) -> None:
    import django
    from django.core.management import call_command

    django.setup()
    if task == "setup":
        call_command("migrate", verbosity=0)
        size = int(os.environ["BENCH_SIZE"])
        began = time.perf_counter()
        _setup(size)
        print(f"seconds={time.perf_counter() - began:.3f}")
        return
    figures = _measure(task, Path(os.environ["CARNET_DATA_DIR"]) / f"export-{task}.zip")
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
    with tempfile.TemporaryDirectory(prefix="carnet-bench-export-") as data:
        env = {**os.environ, "CARNET_DATA_DIR": data, "CARNET_PROFILE": "local"}
        env |= {"DJANGO_SETTINGS_MODULE": "carnet.config.settings.local", "CARNET_DEBUG": "off"}
        env["BENCH_SIZE"] = str(size)
        name = ""
        if database == "postgresql":
            name = f"carnet_bench_export_{uuid.uuid4().hex[:8]}"
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 and 40 subjects (under a minute).")
    parser.add_argument("--sizes", default="1000,4000")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        _child(options.child)
        return
    sizes = [10, 40] if options.quick else [int(s) for s in options.sizes.split(",")]
    values_per_subject = (1 + CYCLES) * FORMS * ITEMS + LESIONS * 2
    figures: dict[str, Any] = {}
    for size in sizes:
        results = _one_size(size, options.database)
        floor = results["floor"]["seconds"]
        print(
            f"{size} subjects, {size * values_per_subject:,} values ({options.database}): "
            f"setup {results['setup']['seconds']:.1f} s; "
            + "; ".join(
                f"{task} {results[task]['seconds']:.2f} s, {results[task]['peak_mb']:.0f} MB"
                for task in ("floor", "floor_arrow")
                if task in results
            )
            + "; "
            + "; ".join(
                f"{task} {results[task]['seconds']:.2f} s "
                f"({results[task]['seconds'] / floor:.1f}x floor), "
                f"{results[task]['peak_mb']:.0f} MB, {results[task]['count'] / 1e6:.1f} MB zip"
                for task in ("csv", "parquet")
            )
        )
        for task in TASKS:
            if task in results:
                figures[f"{task}_s_{size}"] = results[task]["seconds"]
                figures[f"{task}_mb_{size}"] = results[task]["peak_mb"]
    small, large = sizes[0], sizes[-1]
    figures["csv_memory_growth"] = figures[f"csv_mb_{large}"] / figures[f"csv_mb_{small}"]
    for task in ("csv", "parquet"):
        for floor_name in ("floor", "floor_arrow"):
            if f"{floor_name}_s_{large}" not in figures:
                continue
            figures[f"{task}_time_vs_{floor_name}"] = (
                figures[f"{task}_s_{large}"] / figures[f"{floor_name}_s_{large}"]
            )
    print(" ".join(f"{key}={value:.3f}" for key, value in figures.items()))


if __name__ == "__main__":
    main()
