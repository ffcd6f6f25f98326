"""Benchmark: the DSMB closed session of the scale study (MAINTAIN-CRC's design) from a cut-off to
the PDF, through the product, beside the same run's export of that cut-off alone.

One installation (a temporary data directory with SQLite, or a fresh PostgreSQL database dropped
at the end) is migrated and given `carnet demo --scale N` (SCALE-CRC: MAINTAIN-CRC's file, about
520 values a patient through the bulk import path). The sizes run in increasing order on the same
installation: a second `--scale` run adds only the missing patients. At each size a cut-off is
named, then each measurement runs in a process of its own and reports its time and peak memory
(ru_maxrss):

- the floor: the Parquet export of the cut-off (`export_to_path`, every form rebuilt from the
  audit trail);
- the report: `report_of(kind="dsmb-closed")` as the worker makes it (the analysis dataset
  rebuilt from the cut-off, the laboratory values graded at the cut-off, Kaplan-Meier, log-rank
  and Cox, forest plot, monitoring, adverse-event and shift tables) and its PDF (WeasyPrint).

The scale study's patients are randomised and have their outcomes (docs/import.md: tumour
assessments until progression, adverse events, end of treatment, follow-up and death, with an
arm effect), so the closed session is the real one at full size: the dataset build, the
laboratory grading, Kaplan-Meier by arm with its at-risk table, the stratified log-rank test,
Cox and the forest plot by subgroup, the group-sequential monitoring and the safety tables by
arm. An installation kept with ``--keep`` from before the outcomes is topped up by its next
``--scale`` run. bench/reports.py measures the statistics alone on synthetic frames.

    .venv/bin/python bench/reports_scale.py [--quick] [--sizes 1000,3000] [--database sqlite]
        [--keep FOLDER] [--profile]

``--keep`` keeps (and reuses) the SQLite installation in FOLDER. ``--profile`` writes a cProfile
of the report at the largest size (report.prof in the data directory). The last line holds the
figures. Target: the whole DSMB report in <= 60 s on 2 cores at 10,000 patients.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

POSTGRES = "postgres://postgres@127.0.0.1:5432"
TARGET_SECONDS = 60.0


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(task: str, size: int, profile: bool) -> None:
    import django
    from django.core.management import call_command

    django.setup()
    from carnet.audit.services import SystemActor
    from carnet.interop.models import Cutoff
    from carnet.studies.models import Study

    actor = SystemActor(label="bench/reports_scale.py")
    began = time.perf_counter()
    shown: dict[str, float] = {}  # what the report shows by arm
    if task == "setup":
        call_command("migrate", verbosity=0)
        call_command("demo", scale=size, verbosity=0)
        from carnet.core.clock import utc_today
        from carnet.interop.services import cutoff_create

        study = Study.objects.get(identifier="SCALE-CRC")
        if not Cutoff.objects.filter(study=study, name=f"N{size}").exists():
            cutoff_create(
                actor=actor, study=study, name=f"N{size}", reason="benchmark", cut_on=utc_today()
            )
        print(f"seconds={time.perf_counter() - began:.3f}")
        return
    study = Study.objects.get(identifier="SCALE-CRC")
    cutoff = Cutoff.objects.get(study=study, name=f"N{size}")
    data = Path(os.environ["CARNET_DATA_DIR"])
    if task == "floor":
        from carnet.interop.exports import export_to_path

        output = data / "export.zip"
        export_to_path(
            actor=actor,
            study=study,
            cutoff=cutoff,
            file_format="parquet",
            output=output,
            unblinded=True,
        )
        output.unlink()
    else:
        from carnet.reports.rendering import report_pdf
        from carnet.reports.selectors import report_of

        def run() -> None:
            report, source = report_of(
                actor=actor, study=study, cutoff=cutoff, kind="dsmb-closed", unblinded=True
            )
            stats = time.perf_counter()
            pdf = report_pdf([report], source, title=report.title)
            assert pdf.startswith(b"%PDF")
            print(f"pdf={time.perf_counter() - stats:.3f}", file=sys.stderr)
            # What the closed session shows by arm: its curves, events, hazard ratio, forest.
            prefix = next(key for key in ("pfs", "os") if key in report.data)
            numbers = report.data[prefix]
            km = report.figure(f"{prefix}_km")
            shown.update(
                km_curves=km.curves if km else 0,
                events=sum(c["events"] for c in numbers.get("curves", {}).values()),
                hazard_ratio=numbers.get("hazard_ratio", 0.0),
                forest=1.0 if report.figure(f"{prefix}_forest") else 0.0,
            )

        if profile:
            import cProfile

            cProfile.runctx("run()", globals(), locals(), str(data / "report.prof"))
        else:
            run()
    seconds = time.perf_counter() - began
    usage = resource.getrusage(resource.RUSAGE_SELF)
    # CPU time beside the wall time: on the shared machine the wall time is mostly waiting.
    cpu = usage.ru_utime + usage.ru_stime
    extra = "".join(f" {key}={value:.3f}" for key, value in shown.items())
    print(f"seconds={seconds:.3f} cpu={cpu:.3f} peak_mb={_peak_mb():.1f}{extra}")


def _run(task: str, size: int, env: dict[str, str], profile: bool = False) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", task, "--sizes", str(size)]
    out = subprocess.run(
        command + (["--profile"] if profile else []),
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {
        k: float(v) for k, v in (item.split("=") for item in out.strip().splitlines()[-1].split())
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="40 patients: a fresh installation, whose migration alone takes about a minute "
        "on a loaded machine (bench/reports.py --quick is the under-a-minute check).",
    )
    parser.add_argument("--sizes", default="1000,3000")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--keep", help="Keep (and reuse) the SQLite installation here.")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        _child(options.child, int(options.sizes), options.profile)
        return
    sizes = [40] if options.quick else sorted(int(s) for s in options.sizes.split(","))
    folder = options.keep or tempfile.mkdtemp(prefix="carnet-bench-reports-")
    Path(folder).mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CARNET_DATA_DIR": folder, "CARNET_PROFILE": "local"}
    env |= {"DJANGO_SETTINGS_MODULE": "carnet.config.settings.local", "CARNET_DEBUG": "off"}
    name = ""
    if options.database == "postgresql":
        name = f"carnet_bench_reports_{uuid.uuid4().hex[:8]}"
        subprocess.run(
            ["psql", POSTGRES + "/postgres", "-qc", f"CREATE DATABASE {name}"], check=True
        )
        env["DATABASE_URL"] = f"{POSTGRES}/{name}"
    figures: dict[str, Any] = {}
    try:
        for size in sizes:
            setup = _run("setup", size, env)
            floor = _run("floor", size, env)
            report = _run("report", size, env, profile=options.profile and size == sizes[-1])
            load = os.getloadavg()[0]
            verdict = "within" if report["seconds"] <= TARGET_SECONDS else "OVER"
            print(
                f"{size} patients ({options.database}, load {load:.1f}): setup "
                f"{setup['seconds']:.0f} s; export floor {floor['seconds']:.2f} s "
                f"({floor['cpu']:.2f} s CPU), {floor['peak_mb']:.0f} MB; DSMB closed session "
                f"with PDF {report['seconds']:.2f} s ({report['cpu']:.2f} s CPU, "
                f"{report['seconds'] / floor['seconds']:.2f}x floor), "
                f"{report['peak_mb']:.0f} MB, {verdict} the {TARGET_SECONDS:.0f} s target; "
                f"by arm: {report.get('km_curves', 0):.0f} Kaplan-Meier curves, "
                f"{report.get('events', 0):.0f} events, HR {report.get('hazard_ratio', 0):.2f}, "
                f"forest plot {'drawn' if report.get('forest') else 'missing'}",
                flush=True,
            )
            figures |= {
                f"floor_s_{size}": floor["seconds"],
                f"floor_mb_{size}": floor["peak_mb"],
                f"floor_cpu_{size}": floor["cpu"],
                f"report_s_{size}": report["seconds"],
                f"report_cpu_{size}": report["cpu"],
                f"report_mb_{size}": report["peak_mb"],
                f"ratio_{size}": report["seconds"] / floor["seconds"],
                f"load_{size}": load,
                f"hr_{size}": report.get("hazard_ratio", 0.0),
                f"events_{size}": report.get("events", 0.0),
            }
    finally:
        if name:
            subprocess.run(
                ["psql", POSTGRES + "/postgres", "-qc", f"DROP DATABASE {name}"], check=False
            )
        if not options.keep:
            import shutil

            shutil.rmtree(folder, ignore_errors=True)
    print(" ".join(f"{key}={value:.3f}" for key, value in figures.items()))


if __name__ == "__main__":
    main()
