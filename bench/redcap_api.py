"""Benchmark: REDCap flat records through the REDCap-compatible API, beside the floor.

The study, subjects and values of bench/export.py (10 forms of 20 items at a baseline and four
cycles, and lesions), in a fresh installation; then, each in a process of its own: the floor (a
plain read of the study's item values into a Polars frame) and `content=record`, `format=csv`
and `format=json`, read to the end as a client would, with the time to the first byte, the total
and the peak memory (ru_maxrss).

    .venv/bin/python bench/redcap_api.py [--quick] [--sizes 200,800] [--database sqlite|postgresql]

The last line holds the figures.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import export as seed  # bench/export.py: the same synthetic study

POSTGRES = seed.POSTGRES


def _token() -> str:
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from carnet.accounts.services import role_grant, token_create, user_create
    from carnet.audit.services import SystemActor
    from carnet.core.clock import utc_today
    from carnet.studies.models import Study

    actor = SystemActor(label="bench/redcap_api.py")
    study = Study.objects.get(identifier="BENCHX")
    user = user_create(actor=actor, username="bench", password=uuid.uuid4().hex, full_name="B")
    TOTPDevice.objects.create(user=user, name="bench", confirmed=True)
    role_grant(
        actor=actor, user=user, study=study, site=None, role="data_manager", starts_on=utc_today()
    )
    return token_create(actor=actor, user=user, study=study)[1]


def _measure(what: str) -> dict[str, float]:
    from django.test import RequestFactory

    from carnet.accounts.permissions import permissions_remembered
    from carnet.redcap.views import api

    key = Path(os.environ["CARNET_DATA_DIR"], "token").read_text().strip()
    if what == "floor":
        began = time.perf_counter()
        figures = seed._measure("floor", Path("unused"))
        return {
            "first_byte": 0.0,
            "seconds": figures["seconds"],
            "peak_mb": figures["peak_mb"],
            "count": figures["count"],
        }
    request = RequestFactory().post(
        "/redcap/api/", {"token": key, "content": "record", "format": what, "type": "flat"}
    )
    began = time.perf_counter()
    first = 0.0
    size = 0
    with permissions_remembered():
        response = api(request)
        for chunk in response.streaming_content:
            if not first:
                first = time.perf_counter() - began
            size += len(chunk)
    return {
        "first_byte": first,
        "seconds": time.perf_counter() - began,
        "peak_mb": seed._peak_mb(),
        "count": size,
    }


def _child(task: str) -> None:
    import django
    from django.core.management import call_command

    django.setup()
    if task == "setup":
        call_command("migrate", verbosity=0)
        began = time.perf_counter()
        seed._setup(int(os.environ["BENCH_SIZE"]))
        Path(os.environ["CARNET_DATA_DIR"], "token").write_text(_token())
        print(f"seconds={time.perf_counter() - began:.3f}")
        return
    print(" ".join(f"{key}={value:.3f}" for key, value in _measure(task).items()))


def _run(task: str, env: dict[str, str]) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", task],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {k: float(v) for k, v in (i.split("=") for i in out.strip().splitlines()[-1].split())}


def _one_size(size: int, database: str) -> dict[str, dict[str, float]]:
    with tempfile.TemporaryDirectory(prefix="carnet-bench-redcap-") as data:
        env = {**os.environ, "CARNET_DATA_DIR": data, "CARNET_PROFILE": "local"}
        env |= {"DJANGO_SETTINGS_MODULE": "carnet.config.settings.local", "CARNET_DEBUG": "off"}
        env["BENCH_SIZE"] = str(size)
        name = ""
        if database == "postgresql":
            name = f"carnet_bench_redcap_{uuid.uuid4().hex[:8]}"
            subprocess.run(
                ["psql", POSTGRES + "/postgres", "-qc", f"CREATE DATABASE {name}"], check=True
            )
            env["DATABASE_URL"] = f"{POSTGRES}/{name}"
        try:
            results = {"setup": _run("setup", env)}
            for task in ("floor", "csv", "json"):
                results[task] = _run(task, env)
        finally:
            if name:
                subprocess.run(
                    ["psql", POSTGRES + "/postgres", "-qc", f"DROP DATABASE {name}"], check=False
                )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 and 40 subjects.")
    parser.add_argument("--sizes", default="200,800")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        _child(options.child)
        return
    sizes = [10, 40] if options.quick else [int(s) for s in options.sizes.split(",")]
    figures: dict[str, Any] = {}
    for size in sizes:
        results = _one_size(size, options.database)
        floor = results["floor"]["seconds"]
        print(
            f"{size} subjects ({options.database}): setup {results['setup']['seconds']:.1f} s; "
            f"floor {floor:.2f} s, {results['floor']['peak_mb']:.0f} MB; "
            + "; ".join(
                f"{task} first byte {results[task]['first_byte']:.2f} s, total "
                f"{results[task]['seconds']:.2f} s ({results[task]['seconds'] / floor:.1f}x "
                f"floor), {results[task]['peak_mb']:.0f} MB, {results[task]['count'] / 1e6:.1f} MB"
                for task in ("csv", "json")
            )
        )
        for task in ("floor", "csv", "json"):
            figures[f"{task}_s_{size}"] = results[task]["seconds"]
            figures[f"{task}_mb_{size}"] = results[task]["peak_mb"]
        figures[f"csv_first_byte_s_{size}"] = results["csv"]["first_byte"]
    print(" ".join(f"{key}={value:.3f}" for key, value in figures.items()))


if __name__ == "__main__":
    main()
