"""Benchmark: the scale study (MAINTAIN-CRC's design, `carnet demo --scale N`) exported as ODM
and read as REDCap flat records through the REDCap API, beside the same run's CSV export.

Unlike bench/odm.py and bench/redcap_api.py (a fresh synthetic study each run), this reads an
installation already holding SCALE-CRC, loaded through the bulk path by `carnet demo --scale N`
(about 520 values a patient: 10,000 patients give over 5 million values). Loading takes hours
on a shared machine, so the installation is kept and measured as often as needed:

    CARNET_DATA_DIR=... carnet demo --scale 1000
    CARNET_DATA_DIR=... .venv/bin/python bench/odm_scale.py --cutoff AT1000
    CARNET_DATA_DIR=... carnet demo --scale 10000          # adds the patients missing
    CARNET_DATA_DIR=... .venv/bin/python bench/odm_scale.py --cutoff AT10000
    CARNET_DATA_DIR=... .venv/bin/python bench/odm_scale.py --measure AT1000,AT10000

(`DATABASE_URL=postgres://…` for PostgreSQL.) `--cutoff NAME` names the chain as it stands a
cut-off; `--measure` runs, each in a process of its own (wall time, peak resident memory):
the CSV export (with its SAS and R programs) of each cut-off, the floor; the ODM snapshot of
each cut-off (its peak at the two sizes says whether memory stays flat); and, on the current
data, `content=record`, `type=flat`, `format=csv` and `format=json` of the REDCap API read to
the end as a client would (time to the first byte, total). `--skip-redcap`, `--transactional`
(also the ODM transactional file) change what is measured. The last line holds the figures.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

STUDY = "SCALE-CRC"


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cutoff(name: str) -> None:
    from carnet.audit.services import SystemActor
    from carnet.interop.models import Cutoff
    from carnet.interop.services import cutoff_create
    from carnet.studies.models import Study
    from carnet.subjects.models import Subject

    study = Study.objects.get(identifier=STUDY)
    if not Cutoff.objects.filter(study=study, name=name).exists():
        cutoff_create(
            actor=SystemActor(label="bench/odm_scale.py"),
            study=study,
            name=name,
            reason="Benchmark of the exports at scale",
        )
    print(f"cutoff {name}: {Subject.objects.filter(study=study).count()} subjects")


def _token() -> str:
    """Return a data manager's REDCap token for the study (made once, kept in the data folder)."""
    kept = Path(os.environ["CARNET_DATA_DIR"], "bench-redcap-token")
    if kept.exists():
        return kept.read_text().strip()
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from carnet.accounts.services import role_grant, token_create, user_create
    from carnet.audit.services import SystemActor
    from carnet.core.clock import utc_today
    from carnet.studies.models import Study

    actor = SystemActor(label="bench/odm_scale.py")
    study = Study.objects.get(identifier=STUDY)
    user = user_create(
        actor=actor,
        username=f"bench-{uuid.uuid4().hex[:6]}",
        password=uuid.uuid4().hex,
        full_name="Bench",
    )
    TOTPDevice.objects.create(user=user, name="bench", confirmed=True)
    role_grant(
        actor=actor, user=user, study=study, site=None, role="data_manager", starts_on=utc_today()
    )
    key = token_create(actor=actor, user=user, study=study)[1]
    kept.write_text(key)
    return key


def _export(what: str, cutoff_name: str) -> dict[str, float]:
    from carnet.audit.services import SystemActor
    from carnet.interop.exports import export_to_path
    from carnet.interop.models import Cutoff
    from carnet.interop.odm.export import odm_to_path
    from carnet.studies.models import Study

    study = Study.objects.get(identifier=STUDY)
    cutoff = Cutoff.objects.get(study=study, name=cutoff_name)
    actor = SystemActor(label="bench/odm_scale.py")
    output = Path(os.environ["CARNET_DATA_DIR"], f"bench-{what}-{cutoff_name}.out")
    began = time.perf_counter()
    if what == "csv":
        export_to_path(actor=actor, study=study, cutoff=cutoff, file_format="csv", output=output)
    else:
        mode = "transactional" if what == "odm-transactional" else "snapshot"
        odm_to_path(actor=actor, study=study, cutoff=cutoff, output=output, mode=mode)
    seconds = time.perf_counter() - began
    size = output.stat().st_size
    output.unlink()
    return {"seconds": seconds, "peak_mb": _peak_mb(), "bytes": size}


def _redcap(file_format: str) -> dict[str, float]:
    from django.test import RequestFactory

    from carnet.accounts.permissions import permissions_remembered
    from carnet.redcap.views import api

    request = RequestFactory().post(
        "/redcap/api/",
        {"token": _token(), "content": "record", "format": file_format, "type": "flat"},
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
        "peak_mb": _peak_mb(),
        "bytes": size,
    }


def _child(task: str) -> None:
    import django

    django.setup()
    what, _sep, cutoff = task.partition(":")
    if what == "token":
        _token()
        return
    figures = _redcap(cutoff) if what == "redcap" else _export(what, cutoff)
    print(" ".join(f"{key}={value:.3f}" for key, value in figures.items()))


def _run(task: str) -> dict[str, float]:
    env = {**os.environ, "CARNET_PROFILE": "local", "CARNET_DEBUG": "off"}
    env.setdefault("DJANGO_SETTINGS_MODULE", "carnet.config.settings.local")
    out = subprocess.run(
        [sys.executable, __file__, "--child", task],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    lines = out.strip().splitlines()
    if not lines:
        return {}
    return {k: float(v) for k, v in (i.split("=") for i in lines[-1].split())}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--cutoff", help="Name the chain as it stands a cut-off.")
    parser.add_argument("--measure", help="Cut-offs to export, smallest first (A,B).")
    parser.add_argument("--skip-redcap", action="store_true")
    parser.add_argument("--transactional", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        _child(options.child)
        return
    if options.cutoff:
        import django

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "carnet.config.settings.local")
        django.setup()
        _cutoff(options.cutoff)
        return
    database = (
        "postgresql" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "sqlite"
    )
    figures: dict[str, Any] = {}
    tasks = ["csv", "odm"] + (["odm-transactional"] if options.transactional else [])
    for cutoff in (options.measure or "").split(","):
        if not cutoff:
            continue
        for task in tasks:
            result = _run(f"{task}:{cutoff}")
            key = f"{task.replace('-', '_')}_{cutoff}"
            figures[f"{key}_s"] = result["seconds"]
            figures[f"{key}_mb"] = result["peak_mb"]
            print(
                f"{cutoff} ({database}) {task}: {result['seconds']:.1f} s, "
                f"{result['peak_mb']:.0f} MB peak, {result['bytes'] / 1e6:.1f} MB file",
                flush=True,
            )
    if not options.skip_redcap:
        _run("token")
        for file_format in ("csv", "json"):
            result = _run(f"redcap:{file_format}")
            figures[f"redcap_{file_format}_first_byte_s"] = result["first_byte"]
            figures[f"redcap_{file_format}_s"] = result["seconds"]
            figures[f"redcap_{file_format}_mb"] = result["peak_mb"]
            print(
                f"now ({database}) REDCap flat {file_format}: first byte "
                f"{result['first_byte']:.2f} s, total {result['seconds']:.1f} s, "
                f"{result['peak_mb']:.0f} MB peak, {result['bytes'] / 1e6:.1f} MB",
                flush=True,
            )
    load = os.getloadavg()
    figures["load_1min"] = load[0]
    print(" ".join(f"{key}={value:.3f}" for key, value in figures.items()))


if __name__ == "__main__":
    main()
