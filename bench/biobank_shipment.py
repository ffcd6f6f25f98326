"""Benchmark: a shipment of 500 samples (prepare with the manifest's checks: status, other
shipments, each patient's consent, the MTA's clauses; then send: in transit, audited one event
per sample; then the manifest) within a biobank of 100,000 bulk-created samples.

A fresh installation (a temporary data directory, SQLite; or a fresh PostgreSQL database, dropped
at the end) is migrated and given ACC-209 with three sites, 1,000 patients who gave every
optional consent, 100 samples each, a partner and its MTA. Each round ships 500 samples not
shipped before. The floor, measured in the same run and interleaved, is the least SQL any
shipment needs: read the 500 samples by identifier and set their status in one UPDATE.
Reported: p50 and p95 of each, and their ratio.

    .venv/bin/python bench/biobank_shipment.py [--quick] [--rounds 30]
        [--database sqlite|postgresql]

`--quick`: 10,000 samples and 6 rounds (under a minute). The last line holds the figures.
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
from typing import Any

POSTGRES = "postgres://postgres@127.0.0.1:5432"
PER_SHIPMENT = 500
PATIENTS = 1000


def _seed(samples: int) -> tuple[Any, Any, Any, Any]:
    from scale_seed import study_seed

    from carnet.accounts.roles import Role
    from carnet.accounts.services import role_grant, user_create
    from carnet.audit.services import SystemActor
    from carnet.biobank.models import Sample
    from carnet.biobank.mta import agreement_create, destination_create
    from carnet.core.clock import utc_now, utc_today
    from carnet.subjects.models import Consent, Subject

    seeded = study_seed(PATIENTS, label="bench/biobank_shipment.py")
    study = seeded.study
    actor = SystemActor(label="bench/biobank_shipment.py")
    technician = user_create(actor=actor, username="tech", password="a long bench password")  # noqa: S106
    role_grant(
        actor=actor,
        user=technician,
        study=study,
        site=None,
        role=Role.BIOBANK_TECHNICIAN,
        starts_on=utc_today() - timedelta(days=800),
    )
    subjects = list(Subject.objects.filter(study=study).order_by("pk"))
    Consent.objects.bulk_create(
        [
            Consent(
                subject=s,
                form_version="v1",
                consented_on=s.included_on,
                biobank=True,
                future_research=True,
                sharing=True,
            )
            for s in subjects
        ],
        batch_size=2000,
    )
    now = utc_now()
    per = samples // len(subjects)
    Sample.objects.bulk_create(
        (
            Sample(
                study=study,
                environment="production",
                subject=s,
                site_id=s.site_id,
                identifier=f"BK{n * per + k:07d}",
                event="cycle",
                sample_type="plasma" if k % 4 else "serum",
                volume="0.5",
                unit="mL",
                status="stored",
                created_at=now,
                created_by="bench",
                updated_at=now,
            )
            for n, s in enumerate(subjects)
            for k in range(per)
        ),
        batch_size=5000,
    )
    partner = destination_create(
        actor=actor, study=study, code="PART", name="Partner", kind="partner"
    )
    agreement = agreement_create(
        actor=actor,
        study=study,
        reference="MTA-BENCH",
        destination=partner,
        uses=["future_research", "sharing"],
        sample_types=["plasma", "serum"],
        starts_on=utc_today() - timedelta(days=1),
        ends_on=utc_today() + timedelta(days=365),
    )
    from scale_seed import analyse

    analyse()
    return study, technician, partner, agreement


def _child(samples: int, rounds: int) -> None:
    import django
    from django.core.management import call_command
    from django.db import connection, transaction

    django.setup()
    call_command("migrate", verbosity=0)
    from carnet.biobank.models import Sample
    from carnet.biobank.shipments import manifest_csv, shipment_prepare, shipment_send

    study, technician, partner, agreement = _seed(samples)
    identifiers = list(
        Sample.objects.filter(study=study)
        .order_by("identifier")
        .values_list("identifier", flat=True)
    )
    # Spread over the patients: batch i takes every n-th sample from the i-th.
    count = 2 * (rounds + 1)
    batches = [identifiers[i::count][:PER_SHIPMENT] for i in range(count)]
    carnet, floor = [], []
    for r in range(rounds + 1):
        began = time.perf_counter()
        shipment = shipment_prepare(
            actor=technician,
            study=study,
            destination=partner,
            use="future_research",
            agreement=agreement,
            identifiers=batches[2 * r],
        )
        shipment_send(actor=technician, shipment=shipment)
        manifest = manifest_csv(shipment)
        elapsed = time.perf_counter() - began
        assert manifest.count("\n") == PER_SHIPMENT + 1
        began = time.perf_counter()
        with transaction.atomic():
            found = list(
                Sample.objects.filter(identifier__in=batches[2 * r + 1]).values_list("pk", "status")
            )
            Sample.objects.filter(pk__in=[pk for pk, _status in found]).update(status="in_transit")
        floor_elapsed = time.perf_counter() - began
        if r:  # the first round warms caches
            carnet.append(elapsed)
            floor.append(floor_elapsed)

    def p(values: list[float], q: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    figures = {
        "samples": float(Sample.objects.filter(study=study).count()),
        "p50": statistics.median(carnet),
        "p95": p(carnet, 0.95),
        "floor_p50": statistics.median(floor),
        "floor_p95": p(floor, 0.95),
    }
    print(connection.vendor)
    print(" ".join(f"{key}={value:.6f}" for key, value in figures.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 samples, 6 rounds.")
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        _child(options.child, options.rounds)
        return
    samples = 10_000 if options.quick else options.samples
    rounds = 6 if options.quick else options.rounds
    with tempfile.TemporaryDirectory() as data:
        env = {**os.environ, "CARNET_DATA_DIR": data, "CARNET_PROFILE": "local"}
        env["DJANGO_SETTINGS_MODULE"] = "carnet.config.settings.local"
        env["CARNET_DEBUG"] = "off"
        name = ""
        if options.database == "postgresql":
            name = f"carnet_bench_biobank_{uuid.uuid4().hex[:8]}"
            subprocess.run(
                ["psql", POSTGRES + "/postgres", "-qc", f"CREATE DATABASE {name}"], check=True
            )
            env["DATABASE_URL"] = f"{POSTGRES}/{name}"
        try:
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(samples), "--rounds", str(rounds)],
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
    figures = {
        key: float(value)
        for key, value in (item.split("=") for item in out.strip().splitlines()[-1].split())
    }
    print(
        f"{options.database}, {int(figures['samples']):,} samples, {rounds} shipments of "
        f"{PER_SHIPMENT} (prepare with consent and MTA checks + send + manifest): "
        f"p50 {figures['p50'] * 1000:.0f} ms, p95 {figures['p95'] * 1000:.0f} ms; floor p50 "
        f"{figures['floor_p50'] * 1000:.0f} ms, p95 {figures['floor_p95'] * 1000:.0f} ms; "
        f"p95 {figures['p95'] / figures['floor_p95']:.1f}x floor; target p95 <= 300 ms: "
        f"{'met' if figures['p95'] <= 0.3 else 'missed'}"
    )


if __name__ == "__main__":
    main()
