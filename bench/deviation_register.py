"""Benchmark: the register of protocol deviations at 1,000 and 10,000 subjects.

A fresh installation (a temporary data directory, SQLite; or a fresh PostgreSQL database,
dropped at the end) is migrated and given ACC-209 (examples/studies/simon-phase2.yaml), three
sites and a data manager. Synthetic subjects are written in bulk, with one deviation in four
subjects (derived or declared, major or minor, pending, confirmed or rejected). Then, as the data
manager, through Django's test client (the whole page: middleware, selectors, the per-protocol
count, template): page 1 of the register, filtered on major deviations, on pending ones and on
one subject, and the CSV export of every deviation. The floor is the person's account page
(`/account/`), measured in the same run. Each page is asked ``--repeat`` times, interleaved with
the floor; the median is kept. Reported: each page's time at each size, its ratio to the floor,
and the growth from the smaller to the larger size (the register's pages should stay near the
floor's growth; the CSV export reads every row, so it grows with them).

    .venv/bin/python bench/deviation_register.py [--quick] [--sizes 1000,10000] [--repeat 15]
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
from datetime import timedelta
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPOSITORY = BENCH.parent
POSTGRES = "postgres://postgres@127.0.0.1:5432"
PAGES = {
    "register": "deviations/",
    "register_major": "deviations/?deviation_class=major",
    "register_pending": "deviations/?status=pending",
    "register_subject": "deviations/?subject=02-00010",
    "csv": "deviations.csv",
}


def _setup(size: int) -> tuple[Any, Any]:
    """Create the study, sites, data manager, ``size`` subjects and their deviations; return
    the study and the data manager."""
    from carnet.accounts.roles import Role
    from carnet.accounts.services import (
        centre_add,
        role_grant,
        site_activate,
        site_add,
        user_create,
    )
    from carnet.audit.services import SystemActor
    from carnet.core.clock import utc_today
    from carnet.quality.deviation_models import Deviation
    from carnet.studies.definition import study_file_read
    from carnet.studies.models import Study
    from carnet.studies.services import study_load, study_mode_change, study_publish
    from carnet.subjects.models import Subject

    actor = SystemActor(label="bench/deviation_register.py")
    path = REPOSITORY / "examples" / "studies" / "simon-phase2.yaml"
    study = study_load(actor=actor, study_file=study_file_read(path), source_name=path.name).study
    study_publish(actor=actor, study=study)
    study.refresh_from_db()
    study = study_mode_change(actor=actor, study=study, mode="production")
    study = Study.objects.get(pk=study.pk)
    today = utc_today()
    start = today - timedelta(days=730)
    sites = []
    for number in range(1, 4):
        centre = centre_add(actor=actor, code=f"BEN{number}", name=f"Bench centre {number}")
        sites.append(
            site_activate(
                actor=actor, site=site_add(actor=actor, study=study, centre=centre), on=start
            )
        )
    manager = user_create(actor=actor, username="manager", password="a long bench password")  # noqa: S106
    role_grant(
        actor=actor, user=manager, study=study, site=None, role=Role.DATA_MANAGER, starts_on=start
    )
    rng = random.Random(f"deviation-register-{size}")
    subjects = []
    for n in range(size):
        site = sites[n % 3]
        included = start + timedelta(days=rng.randrange(0, 725))
        subjects.append(
            Subject(
                study=study,
                environment="production",
                site=site,
                identifier=f"{site.code}-{n // 3 + 1:05d}",
                sequence=n // 3 + 1,
                included_on=included,
                study_status="included",
                study_status_on=included,
                treatment_status="on_treatment",
                treatment_status_on=included,
                last_news_on=included,
            )
        )
    Subject.objects.bulk_create(subjects, batch_size=1000)
    created = list(Subject.objects.filter(study=study).order_by("pk"))
    deviations = []
    for subject in created:
        if rng.random() >= 0.25:
            continue
        deviations.append(
            Deviation(
                study=study,
                subject=subject,
                origin="declared",
                description="Visit out of its window",
                occurred_on=subject.included_on + timedelta(days=rng.randint(1, 200)),
                deviation_class=rng.choice(["major", "minor"]),
                category=rng.choice(["visit_window", "dosing", "consent", "other"]),
                status=rng.choice(["pending", "confirmed", "rejected"]),
                declared_by="bench",
            )
        )
    Deviation.objects.bulk_create(deviations, batch_size=1000)
    from django.db import connection

    if connection.vendor == "postgresql":
        # Freshly loaded tables have no statistics until autovacuum runs; a study in use has.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return study, manager


def _measure(study: Any, manager: Any, repeat: int) -> dict[str, float]:
    from django.test import Client
    from django_otp.oath import totp
    from django_otp.plugins.otp_totp.models import TOTPDevice

    client = Client(SERVER_NAME="localhost")
    client.force_login(manager)
    # A data manager passes the second factor first, as on the real pages.
    client.get("/account/two-factor/")
    device = TOTPDevice.objects.filter(confirmed=False).latest("id")
    code = totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits)
    client.post("/account/two-factor/", {"device": device.pk, "code": f"{code:06d}"})
    base = f"/studies/{study.identifier}/"
    timings: dict[str, list[float]] = {name: [] for name in [*PAGES, "floor"]}
    for name, path in [*PAGES.items(), ("floor", "/account/")]:  # warm-up
        response = client.get(path if name == "floor" else base + path)
        assert response.status_code == 200, (name, response.status_code, response.get("Location"))
    for _ in range(repeat):
        for name, path in [*PAGES.items(), ("floor", "/account/")]:
            began = time.perf_counter()
            response = client.get(path if name == "floor" else base + path)
            if response.streaming:  # the export: read to its last row
                b"".join(response.streaming_content)  # type: ignore[attr-defined]
            timings[name].append(time.perf_counter() - began)
            assert response.status_code == 200, (name, response.status_code)
    return {name: statistics.median(values) for name, values in timings.items()}


def _one_size(size: int, repeat: int, database: str) -> dict[str, float]:
    """Run one size in a fresh process and installation; return its figures."""
    with tempfile.TemporaryDirectory(prefix="carnet-bench-deviations-") as data:
        env = {**os.environ, "CARNET_DATA_DIR": data, "CARNET_PROFILE": "local"}
        env["DJANGO_SETTINGS_MODULE"] = "carnet.config.settings.local"
        env["CARNET_DEBUG"] = "off"
        name = ""
        if database == "postgresql":
            name = f"carnet_bench_deviations_{uuid.uuid4().hex[:8]}"
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
    figures = _measure(study, manager, repeat)
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
    worst = max(PAGES, key=lambda name: large[name])
    print(
        f"{options.database} {sizes[-1]} subjects: register {large['register'] * 1000:.0f} ms "
        f"({large['register'] / large['floor']:.1f}x floor {large['floor'] * 1000:.0f} ms); "
        f"slowest page {worst} {large[worst] * 1000:.0f} ms; growth {sizes[0]}->{sizes[-1]} "
        f"register {large['register'] / small['register']:.2f} "
        f"floor {large['floor'] / small['floor']:.2f}"
    )


if __name__ == "__main__":
    main()
