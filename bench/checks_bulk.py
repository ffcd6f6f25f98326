"""Benchmark: a whole-study re-check of 50 soft edit checks over 10 million item values.

A fresh installation (a temporary SQLite file, or a fresh PostgreSQL database dropped at the
end) is given a synthetic study: per subject, a baseline and ten cycles, each with a vitals form
(10 items) and a laboratory form (20 items), and an adverse-event form at baseline (a repeating
group of 4 items, 0 to 8 rows): about 350 values per subject. 50 soft checks read them: ranges
and orders within a form, the baseline weight from each cycle (`baseline.weight`), the vitals
from the laboratory form (another form of the same event), sums and maxima over the adverse
events and `count(ae_grade >= 3)`. Subjects, form instances and values are written in bulk
(PostgreSQL COPY, SQLite executemany: the save pipeline would take hours), never through
the pipeline; about 2 % of the values are out of range, so some checks fire.

Measured in the same process, on the same data: the floor, the plain read of every value the
checks read into a Polars frame (`carnet.quality.rechecks.values_frame`, the re-check's own
read); the first re-check end to end (reads, evaluation, opening every firing in bulk, audit);
a second re-check (nothing to open: the idempotent run). Reported: values/s of each, the ratio
of the first run to the floor, and the peak resident memory of the process (ru_maxrss, which
includes the loading of the synthetic data before the runs).

    .venv/bin/python bench/checks_bulk.py [--quick] [--subjects 29000]
        [--database sqlite|postgresql]

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

BENCH = Path(__file__).resolve().parent
REPOSITORY = BENCH.parent
POSTGRES = "postgres://postgres@127.0.0.1:5432"
CYCLES = 10
VITALS = ["weight", "height", "sbp", "dbp", "pulse", "temp", "spo2", "resp", "ecog", "vs_date"]
LABS = [f"lab{n:02d}" for n in range(1, 21)]
AE = ["ae_term", "ae_grade", "ae_onset", "ae_serious"]

STUDY = """format: carnet-study/1
study:
  identifier: BULK
  acronym: BULK
  title: {{en: Bulk re-check bench, fr: Banc de re-vérification}}
  phase: II
  sponsor: Bench
  design: {{allocation: single arm, blinding: open}}
arms:
  - {{name: treated, label: {{en: Treated, fr: Traité}}}}
code_lists:
  - name: yes_no
    type: integer
    items:
      - {{code: 1, label: {{en: "Yes", fr: Oui}}}}
      - {{code: 0, label: {{en: "No", fr: Non}}}}
events:
  - name: baseline
    label: {{en: Baseline, fr: Inclusion}}
    schedule: {{anchor: inclusion, window: {{before: 7, after: 0}}}}
    forms: [vitals, labs, adverse_events]
  - name: cycle
    label: {{en: Cycle, fr: Cycle}}
    schedule:
      anchor: event:baseline
      offset_days: 21
      window: {{before: 2, after: 3}}
      repeat: {{every_days: 21, from: previous}}
    forms: [vitals, labs]
forms:
  - name: vitals
    label: {{en: Vital signs, fr: Signes vitaux}}
    groups:
      - name: vs
        items:
{vitals}
    checks:
{vitals_checks}
  - name: labs
    label: {{en: Laboratory, fr: Biologie}}
    groups:
      - name: lb
        items:
{labs}
    checks:
{labs_checks}
  - name: adverse_events
    label: {{en: Adverse events, fr: Événements indésirables}}
    groups:
      - name: ae
        repeating: true
        max_rows: 20
        items:
          - {{name: ae_term, type: text, label: {{en: Term, fr: Terme}}}}
          - {{name: ae_grade, type: integer, label: {{en: Grade, fr: Grade}}}}
          - {{name: ae_onset, type: date, label: {{en: Onset, fr: Début}}}}
          - {{name: ae_serious, type: single_choice, code_list: yes_no, label: {{en: S, fr: G}}}}
    checks:
{ae_checks}
"""


def _item(name: str, kind: str) -> str:
    return f"          - {{name: {name}, type: {kind}, label: {{en: {name}, fr: {name}}}}}"


def _check(number: int, expression: str) -> str:
    return (
        f'      - {{name: c{number:02d}, expression: "{expression}", severity: soft, '
        f"message: {{en: Check {number}, fr: Contrôle {number}}}}}"
    )


VITALS_CHECKS = [
    "weight >= 30 and weight <= 200",
    "height >= 120 and height <= 220",
    "sbp > dbp",
    "sbp <= 220",
    "dbp >= 40",
    "pulse >= 40 and pulse <= 160",
    "temp >= 35.0 and temp <= 41.0",
    "spo2 >= 85",
    "resp <= 35",
    "ecog in (0, 1, 2, 3)",
    "weight >= baseline.weight * 0.8",
    "vs_date <= today()",
    'vs_date >= date(\\"2020-01-01\\")',
    "round(weight / (height / 100 * (height / 100)), 1) < 45",
    "not (ecog >= 3 and pulse > 120)",
]
LAB_CHECKS = [
    *[f"lab{n:02d} >= 1 and lab{n:02d} <= 150" for n in range(1, 16)],
    "lab16 < lab17 * 3",
    "coalesce(lab18, 0) <= 140",
    "abs(lab19 - lab20) < 120",
    "if(lab01 > 100, lab02 < 120, true)",
    "lab03 + lab04 + lab05 < 400",
    "weight >= 30",
    "is_missing(sbp) or sbp < 230",
    "baseline.labs.lab01 <= lab01 * 3",
    "floor(lab06 / 10) <= 15",
    "lab07 != 0",
]
AE_CHECKS = [
    "count(ae_grade >= 3) <= 3",
    "count(ae_grade >= 4) = 0",
    "max(ae_grade) <= 4",
    "count(ae_onset > today()) = 0",
    'count(ae_onset < date(\\"2020-01-01\\")) = 0',
    "sum(ae_grade) <= 25",
    "count(ae_serious = 1) <= 2",
    "count(ae_term) = count(ae_grade)",
    "min(ae_onset) >= baseline.vitals.vs_date - 30",
    "count(ae_grade < 1 or ae_grade > 5) = 0",
]
assert len(VITALS_CHECKS) + len(LAB_CHECKS) + len(AE_CHECKS) == 50


def study_text() -> str:
    vitals_types = ["decimal", "integer", "integer", "integer", "integer"]
    vitals_types += ["decimal", "integer", "integer", "integer", "date"]
    numbered = iter(range(1, 51))
    return STUDY.format(
        vitals="\n".join(_item(n, k) for n, k in zip(VITALS, vitals_types, strict=True)),
        labs="\n".join(_item(n, "decimal") for n in LABS),
        vitals_checks="\n".join(_check(next(numbered), e) for e in VITALS_CHECKS),
        labs_checks="\n".join(_check(next(numbered), e) for e in LAB_CHECKS),
        ae_checks="\n".join(_check(next(numbered), e) for e in AE_CHECKS),
    )


# --- the synthetic data, written in bulk ------------------------------------------------------


def _setup(subjects: int) -> Any:
    from carnet.accounts.services import centre_add, site_activate, site_add
    from carnet.audit.services import SystemActor
    from carnet.core.clock import utc_today
    from carnet.studies.definition import study_file_read
    from carnet.studies.models import Study
    from carnet.studies.services import study_load, study_mode_change, study_publish
    from carnet.subjects.models import Subject

    actor = SystemActor(label="bench/checks_bulk.py")
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "bulk.yaml"
        path.write_text(study_text(), encoding="utf-8")
        study = study_load(
            actor=actor, study_file=study_file_read(path), source_name="bulk.yaml"
        ).study
    study_publish(actor=actor, study=study)
    study.refresh_from_db()
    study_mode_change(actor=actor, study=study, mode="production")
    study = Study.objects.get(pk=study.pk)
    start = utc_today() - timedelta(days=900)
    centre = centre_add(actor=actor, code="BEN1", name="Bench centre")
    site = site_activate(
        actor=actor, site=site_add(actor=actor, study=study, centre=centre), on=start
    )
    rng = random.Random(f"checks-bulk-{subjects}")
    rows = []
    for n in range(subjects):
        included = start + timedelta(days=rng.randrange(0, 600))
        rows.append(
            Subject(
                study=study,
                environment="production",
                site=site,
                identifier=f"{site.code}-{n + 1:06d}",
                sequence=n + 1,
                included_on=included,
                study_status="included",
                study_status_on=included,
                treatment_status="on_treatment",
                treatment_status_on=included,
                last_news_on=included,
            )
        )
    Subject.objects.bulk_create(rows, batch_size=2000)
    return study


def _vitals(rng: random.Random, day: date, weight: float) -> list[str]:
    bad = rng.random() < 0.02  # one form in fifty has an implausible value somewhere
    values = [
        f"{weight * rng.uniform(0.95, 1.02):.1f}",
        str(rng.randint(150, 195)),
        str(rng.randint(100, 160) if not bad else rng.randint(50, 90)),
        str(rng.randint(60, 95)),
        str(rng.randint(50, 110)),
        f"{rng.uniform(36.0, 38.5):.1f}",
        str(rng.randint(90, 100)),
        str(rng.randint(10, 24)),
        str(rng.choice([0, 0, 1, 1, 2])),
        day.isoformat(),
    ]
    return values


def _labs(rng: random.Random) -> list[str]:
    values = [f"{rng.uniform(5, 140):.2f}" for _ in LABS]
    if rng.random() < 0.05:
        values[rng.randrange(15)] = f"{rng.uniform(150, 300):.2f}"
    if rng.random() < 0.1:
        values[rng.randrange(20)] = ""  # a missing-data code
    return values


def _load(study: Any) -> int:
    """Write the form instances and values of every subject in bulk; return the values."""
    from django.db import connection

    from carnet.capture.models import FormInstance, ItemValue
    from carnet.subjects.models import Subject

    version = study.current_version_id
    rng = random.Random("checks-bulk-values")
    instance_rows: list[tuple[Any, ...]] = []
    value_rows: list[tuple[Any, ...]] = []
    instance_id = FormInstance.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    now = "2026-01-01 00:00:00+00:00"
    total = 0

    def instance(subject: int, event: str, occurrence: int, form: str) -> int:
        nonlocal instance_id
        instance_id += 1
        instance_rows.append(
            (
                instance_id,
                subject,
                "production",
                event,
                occurrence,
                form,
                1,
                "in_progress",
                "",
                1,
                version,
                now,
                now,
            )
        )
        return instance_id

    def value(form_instance: int, item: str, group: str, row: int, text: str) -> None:
        value_rows.append(
            (
                form_instance,
                item,
                f"BULK.{item}",
                group,
                row,
                text,
                "" if text else "ND",
                False,
                False,
                1,
                version,
                now,
                "bench",
            )
        )

    subjects = list(Subject.objects.filter(study=study).values_list("pk", "included_on"))
    for subject, included in subjects:
        weight = rng.uniform(45, 110)
        for occurrence in range(0, CYCLES + 1):
            event, number = ("baseline", 1) if occurrence == 0 else ("cycle", occurrence)
            day = included + timedelta(days=21 * occurrence)
            vitals = instance(subject, event, number, "vitals")
            for item, text in zip(VITALS, _vitals(rng, day, weight), strict=True):
                value(vitals, item, "vs", 0, text)
            labs = instance(subject, event, number, "labs")
            for item, text in zip(LABS, _labs(rng), strict=True):
                value(labs, item, "lb", 0, text)
        adverse = instance(subject, "baseline", 1, "adverse_events")
        for row in range(1, rng.randint(0, 8) + 1):
            onset = included + timedelta(days=rng.randint(-5, 200))
            grade = rng.choice([1, 1, 1, 2, 2, 3, 4]) if rng.random() > 0.01 else 7
            for item, text in zip(
                AE,
                [
                    f"term {rng.randint(1, 400)}",
                    str(grade),
                    onset.isoformat(),
                    str(int(rng.random() < 0.1)),
                ],
                strict=True,
            ):
                value(adverse, item, "ae", row, text)
        if len(value_rows) >= 500_000:
            total += len(value_rows)
            _write(connection, FormInstance, instance_rows)
            _write(connection, ItemValue, value_rows)
            instance_rows.clear()
            value_rows.clear()
    total += len(value_rows)
    _write(connection, FormInstance, instance_rows)
    _write(connection, ItemValue, value_rows)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            table = FormInstance._meta.db_table
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {instance_id})")
            cursor.execute("ANALYZE")
    return total


INSTANCE_COLUMNS = [
    "id",
    "subject_id",
    "environment",
    "event",
    "occurrence",
    "form",
    "repeat",
    "status",
    "not_done_reason",
    "version",
    "study_version_id",
    "created_at",
    "updated_at",
]
VALUE_COLUMNS = [
    "form_instance_id",
    "item",
    "item_oid",
    "group",
    "row",
    "text",
    "missing_code",
    "removed",
    "hidden",
    "changed_in",
    "study_version_id",
    "updated_at",
    "updated_by",
]


def _write(connection: Any, model: Any, rows: list[tuple[Any, ...]]) -> None:
    """Insert form instances or values in bulk."""
    from carnet.capture.models import FormInstance

    columns = INSTANCE_COLUMNS if model is FormInstance else VALUE_COLUMNS
    rows_write(connection, model._meta.db_table, columns, rows)


def rows_write(
    connection: Any, table: str, columns: list[str], rows: list[tuple[Any, ...]]
) -> None:
    """Insert rows in bulk, nothing else: COPY on PostgreSQL, executemany on SQLite."""
    if not rows:
        return
    quote = connection.ops.quote_name
    names = ", ".join(quote(column) for column in columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(columns))
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)  # noqa: S608


# --- the measurement ----------------------------------------------------------------------------


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(subjects: int) -> None:
    import django
    from django.core.management import call_command
    from django.db import transaction

    django.setup()
    call_command("migrate", verbosity=0)
    from carnet.audit.services import SystemActor
    from carnet.capture.rules import study_rules
    from carnet.quality.rechecks import _rule_reads, checks_recheck, values_frame

    began = time.perf_counter()
    with transaction.atomic():
        study = _setup(subjects)
        values = _load(study)
    loading = time.perf_counter() - began
    from django.db import connection

    if connection.vendor == "sqlite":
        # A study in use has its pages in the database file; a bulk load leaves them in the
        # write-ahead log until the next checkpoint, which every later read would consult.
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before_runs = _peak_mb()
    reads = _rule_reads(study_rules(study.current_version))

    def floor_read() -> tuple[float, int]:
        began = time.perf_counter()
        frame = values_frame(study, reads)
        return time.perf_counter() - began, frame.height

    # The floor is read before and after the runs, the faster kept: both then find the
    # database's pages in the cache as warm as the runs did.
    floor, read = floor_read()

    actor = SystemActor(label="bench/checks_bulk.py")
    profile_path = os.environ.get("CARNET_BENCH_PROFILE")
    profiler = None
    if profile_path:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    began = time.perf_counter()
    first = checks_recheck(actor=actor, study=study, reason="bench")
    first_seconds = time.perf_counter() - began
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile_path)
    began = time.perf_counter()
    second = checks_recheck(actor=actor, study=study, reason="bench")
    second_seconds = time.perf_counter() - began
    floor = min(floor, floor_read()[0])
    figures = {
        "values": values,
        "values_read": read,
        "loading_s": loading,
        "floor_s": floor,
        "first_s": first_seconds,
        "second_s": second_seconds,
        "opened": first.opened,
        "second_opened": second.opened,
        "second_closed": second.closed,
        "peak_mb": _peak_mb(),
        "peak_before_runs_mb": before_runs,
    }
    print(" ".join(f"{key}={value}" for key, value in figures.items()))


def _run(subjects: int, database: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="carnet-bench-checks-") as data:
        env = {**os.environ, "CARNET_DATA_DIR": data, "CARNET_PROFILE": "local"}
        env["DJANGO_SETTINGS_MODULE"] = "carnet.config.settings.local"
        env["CARNET_DEBUG"] = "off"
        env.pop("DATABASE_URL", None)
        name = ""
        if database == "postgresql":
            name = f"carnet_bench_checks_{uuid.uuid4().hex[:8]}"
            subprocess.run(
                ["psql", POSTGRES + "/postgres", "-qc", f"CREATE DATABASE {name}"], check=True
            )
            env["DATABASE_URL"] = f"{POSTGRES}/{name}"
        try:
            completed = subprocess.run(
                [sys.executable, __file__, "--child", str(subjects)],
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
    return {key: float(value) for key, value in figures.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="600 subjects (under a minute).")
    parser.add_argument("--subjects", type=int, default=29_000, help="About 350 values each.")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--profile", help="Write a cProfile of the first re-check to this file.")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.profile:
        os.environ["CARNET_BENCH_PROFILE"] = str(Path(options.profile).resolve())
    if options.child:
        _child(options.child)
        return
    subjects = 600 if options.quick else options.subjects
    f = _run(subjects, options.database)
    rate = f["values_read"] / f["first_s"]
    floor_rate = f["values_read"] / f["floor_s"]
    print(
        f"database {options.database}; {subjects:,} subjects, {f['values']:,.0f} values stored, "
        f"{f['values_read']:,.0f} read by the 50 checks; loaded in {f['loading_s']:.0f} s"
    )
    print(f"floor (read into a frame): {f['floor_s']:.2f} s, {floor_rate:,.0f} values/s")
    print(
        f"first re-check: {f['first_s']:.2f} s, {rate:,.0f} values/s, "
        f"{f['opened']:,.0f} results opened"
    )
    print(
        f"second re-check: {f['second_s']:.2f} s, opened {f['second_opened']:.0f}, "
        f"closed {f['second_closed']:.0f}"
    )
    print(
        f"{options.database} values={f['values_read']:.0f} recheck_values_per_s={rate:.0f} "
        f"floor_values_per_s={floor_rate:.0f} ratio_to_floor={f['first_s'] / f['floor_s']:.2f} "
        f"second_run_s={f['second_s']:.2f} opened={f['opened']:.0f} "
        f"second_opened={f['second_opened']:.0f} peak_mb={f['peak_mb']:.0f} "
        f"peak_before_runs_mb={f['peak_before_runs_mb']:.0f}"
    )


if __name__ == "__main__":
    main()
