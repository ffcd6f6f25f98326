"""Benchmark: a biobank of 100,000 samples: scanning a label to its sample, a box map and a
freezer's content list (paged).

A fresh installation (a temporary data directory, SQLite; or a fresh PostgreSQL database,
dropped at the end) is migrated and given bench/scale_seed.py's study (ACC-209, three sites,
200 subjects) and a biobank technician of every site. Ten freezers (-80 °C) of ten racks of
thirteen 9 × 9 boxes (105,300 positions) are created through the services; then ``--samples``
plasma samples (500 a subject) and their positions are written in bulk, box after box (about
10,000 a freezer). Then, as the technician, through Django's test client (the whole page:
middleware, selectors, template), each in turn, ``--repeat`` times:

- scan: the scan box given a random sample's identifier, followed to the sample's page (two
  requests: the lookup and the page with its place, history and the boxes to store into);
- box: the map of a random full box (81 identifiers);
- content: a random page (100 samples) of a random freezer's content list;
- floor: the person's account page (`/account/`), a small page of the same base template.

Reported: p50 and p95 of each, and p95 against the 300 ms target.

    .venv/bin/python bench/biobank.py [--quick] [--samples 100000] [--repeat 40]
        [--database sqlite|postgresql]

The last line holds the figures.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

from scale_seed import manager_client, study_seed

BENCH = Path(__file__).resolve().parent
POSTGRES = "postgres://postgres@127.0.0.1:5432"
FREEZERS, RACKS, BOXES, ROWS, COLUMNS = 10, 10, 13, 9, 9
TARGET_MS = 300


def _setup(samples: int) -> tuple[Any, Any, list[str], list[int], list[int], float]:
    """Create the study, the technician, the storage and ``samples`` stored samples; return
    them with the seconds the bulk writes took."""
    from carnet.accounts.roles import Role
    from carnet.accounts.services import role_grant, user_create
    from carnet.audit.services import SystemActor
    from carnet.biobank.models import Box, Sample, SamplePosition, SampleStatus
    from carnet.biobank.storage import box_create, freezer_create, rack_create
    from carnet.core.clock import utc_now
    from carnet.subjects.models import Subject

    seeded = study_seed(200, label="bench/biobank.py")
    study = seeded.study
    actor = SystemActor(label="bench/biobank.py")
    technician = user_create(actor=actor, username="technician", password="a long bench password")  # noqa: S106
    role_grant(
        actor=actor,
        user=technician,
        study=study,
        site=None,
        role=Role.BIOBANK_TECHNICIAN,
        starts_on=utc_now().date(),
    )
    centre = study.sites.order_by("code").first().centre
    freezer_ids = []
    for f in range(1, FREEZERS + 1):
        freezer = freezer_create(
            actor=actor, study=study, centre=centre, name=f"F{f:02d}", temperature=-80
        )
        freezer_ids.append(freezer.pk)
        for r in range(1, RACKS + 1):
            rack = rack_create(actor=actor, study=study, freezer=freezer, name=f"R{r:02d}")
            # The first box through the service, the others in bulk (the same rows).
            first = box_create(
                actor=actor, study=study, rack=rack, name="B01", rows=ROWS, columns=COLUMNS
            )
            Box.objects.bulk_create(
                [
                    Box(
                        rack=rack,
                        name=f"B{b:02d}",
                        rows=ROWS,
                        columns=COLUMNS,
                        created_at=first.created_at,
                        created_by=first.created_by,
                    )
                    for b in range(2, BOXES + 1)
                ]
            )
    began = time.perf_counter()
    subjects = list(Subject.objects.filter(study=study).order_by("pk"))
    boxes = list(
        Box.objects.filter(rack__freezer__in=freezer_ids).order_by(
            "rack__freezer__name", "rack__name", "name"
        )
    )
    now = utc_now()
    identifiers = []
    batch = 5000
    for start in range(0, samples, batch):
        rows = []
        for n in range(start, min(start + batch, samples)):
            subject = subjects[n % len(subjects)]
            identifier = f"{subject.identifier}-PL{n:06d}"
            identifiers.append(identifier)
            rows.append(
                Sample(
                    study=study,
                    environment=subject.environment,
                    subject=subject,
                    site_id=subject.site_id,
                    identifier=identifier,
                    sample_type="plasma",
                    container="cryotube_2ml",
                    volume=Decimal("0.5"),
                    unit="mL",
                    status=SampleStatus.STORED,
                    collected_at=now,
                    collected_by="bench",
                    created_at=now,
                    created_by="bench",
                    updated_at=now,
                )
            )
        Sample.objects.bulk_create(rows)
    ids = {
        identifier: (pk, site_id)
        for identifier, pk, site_id in Sample.objects.filter(study=study)
        .values_list("identifier", "pk", "site_id")
        .iterator(chunk_size=5000)
    }
    per_box = ROWS * COLUMNS
    positions = []
    for n, identifier in enumerate(identifiers):
        box = boxes[n // per_box]
        place = n % per_box
        positions.append(
            SamplePosition(
                sample_id=ids[identifier][0],
                study=study,
                site_id=ids[identifier][1],
                box=box,
                row=place // COLUMNS + 1,
                column=place % COLUMNS + 1,
                stored_at=now,
                stored_by="bench",
            )
        )
    SamplePosition.objects.bulk_create(positions, batch_size=5000)
    # The boxes' counters, as the storage services keep them.
    filled = boxes[: -(-samples // per_box)]
    for n, box in enumerate(filled):
        box.used = min(per_box, samples - n * per_box)
    Box.objects.bulk_update(filled, ["used"], batch_size=1000)
    seeded_seconds = time.perf_counter() - began
    full_boxes = [box.pk for box in boxes[: samples // per_box]]
    used_freezers = sorted({box.rack.freezer_id for box in boxes[: max(1, samples // per_box)]})
    return study, technician, identifiers, full_boxes, used_freezers, seeded_seconds


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _measure(
    study: Any,
    technician: Any,
    identifiers: list[str],
    boxes: list[int],
    freezers: list[int],
    repeat: int,
) -> dict[str, float]:
    from carnet.biobank.models import SamplePosition

    client = manager_client(technician)
    base = f"/studies/{study.identifier}/biobank/"
    rng = random.Random("biobank-bench")
    pages_of = {
        pk: max(1, SamplePosition.objects.filter(box__rack__freezer=pk).count() // 100)
        for pk in freezers
    }

    def paths() -> dict[str, tuple[str, dict[str, str]]]:
        freezer = rng.choice(freezers)
        return {
            "scan": (base + "scan/", {"code": rng.choice(identifiers)}),
            "box": (base + f"storage/boxes/{rng.choice(boxes)}/", {}),
            "content": (
                base + f"storage/freezers/{freezer}/",
                {"page": str(rng.randint(1, pages_of[freezer]))},
            ),
            "floor": ("/account/", {}),
        }

    timings: dict[str, list[float]] = {name: [] for name in ("scan", "box", "content", "floor")}
    for name, (path, query) in paths().items():  # warm-up
        response = client.get(path, query, follow=name == "scan")
        assert response.status_code == 200, (name, response.status_code)
    for _ in range(repeat):
        for name, (path, query) in paths().items():
            began = time.perf_counter()
            response = client.get(path, query, follow=name == "scan")
            timings[name].append(time.perf_counter() - began)
            assert response.status_code == 200, (name, response.status_code)
    figures = {}
    for name, values in timings.items():
        figures[f"{name}_p50"] = statistics.median(values)
        figures[f"{name}_p95"] = _percentile(values, 0.95)
    return figures


def _run(samples: int, repeat: int, database: str) -> dict[str, float]:
    """Run in a fresh process and installation; return its figures."""
    with tempfile.TemporaryDirectory(prefix="carnet-bench-biobank-") as data:
        env = {**os.environ, "CARNET_DATA_DIR": data, "CARNET_PROFILE": "local"}
        env["DJANGO_SETTINGS_MODULE"] = "carnet.config.settings.local"
        env["CARNET_DEBUG"] = "off"
        name = ""
        if database == "postgresql":
            name = f"carnet_bench_biobank_{uuid.uuid4().hex[:8]}"
            subprocess.run(
                ["psql", POSTGRES + "/postgres", "-qc", f"CREATE DATABASE {name}"], check=True
            )
            env["DATABASE_URL"] = f"{POSTGRES}/{name}"
        try:
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(samples), "--repeat", str(repeat)],
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


def _child(samples: int, repeat: int) -> None:
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    study, technician, identifiers, boxes, freezers, seeded = _setup(samples)
    figures = _measure(study, technician, identifiers, boxes, freezers, repeat)
    figures["seed_s"] = seeded
    print(" ".join(f"{key}={value:.6f}" for key, value in figures.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="10,000 samples, 10 repeats (under a minute)."
    )
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        _child(options.child, options.repeat)
        return
    samples = 10_000 if options.quick else options.samples
    repeat = 10 if options.quick else options.repeat
    if samples > FREEZERS * RACKS * BOXES * ROWS * COLUMNS:
        parser.error("--samples: at most 105,300 (the positions of the ten freezers).")
    figures = _run(samples, repeat, options.database)
    print(f"database {options.database}; {samples:,} samples; {repeat} requests each")
    print(f"{'page':<10}{'p50':>10}{'p95':>10}{'p95 x floor':>14}")
    for name in ("scan", "box", "content", "floor"):
        p50, p95 = figures[f"{name}_p50"] * 1000, figures[f"{name}_p95"] * 1000
        ratio = figures[f"{name}_p95"] / figures["floor_p95"]
        print(f"{name:<10}{p50:>8.1f}ms{p95:>8.1f}ms{ratio:>14.2f}")
    worst = max(figures[f"{name}_p95"] for name in ("scan", "box", "content")) * 1000
    verdict = "met" if worst <= TARGET_MS else "missed"
    print(
        f"{options.database} {samples} samples (bulk seed {figures['seed_s']:.1f} s): "
        + ", ".join(
            f"{name} p50 {figures[f'{name}_p50'] * 1000:.0f} ms p95 "
            f"{figures[f'{name}_p95'] * 1000:.0f} ms"
            for name in ("scan", "box", "content", "floor")
        )
        + f"; worst p95 {worst:.0f} ms, target {TARGET_MS} ms {verdict}"
    )


if __name__ == "__main__":
    main()
