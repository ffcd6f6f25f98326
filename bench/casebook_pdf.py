"""Benchmark: the archival casebook PDF of one subject, as its audit trail grows.

A casebook (interop/casebook_documents.py) is laid out by WeasyPrint; its audit trail is most of
its pages. The casebook of a subject with ``size`` audit lines (and one form of eight values per
ten lines) is built in memory — a subject, its site and study as unsaved rows, so no database is
needed and only the layout is measured — then rendered two ways, each in its own process (time
and peak resident memory):

- ``casebook``: `casebook_pdf`, what the page, the command and the site archive call;
- ``floor``: the same text (values and trail) as plain paragraphs with the same style sheet:
  what laying out that much text costs at least.

Reported per size: seconds and peak MB of each, and the casebook's ratio to the floor. A layout
that grows linearly keeps that ratio from one size to the next.

    .venv/bin/python bench/casebook_pdf.py [--quick] [--sizes 500,2000]

The last line holds the figures.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

TASKS = ("casebook", "floor")


def _document(size: int) -> Any:
    from carnet.accounts.models import Centre, StudySite
    from carnet.interop.casebook_documents import (
        AuditLine,
        CasebookDocument,
        CasebookForm,
        CasebookRow,
        CasebookValue,
    )
    from carnet.studies.models import Study
    from carnet.subjects.models import Subject

    centre = Centre(code="BENCH", name="Bench centre", time_zone="Europe/Paris")
    study = Study(identifier="BENCH-1")
    site = StudySite(code="01", centre=centre, study=study)
    subject = Subject(study=study, site=site, identifier="01-0001", included_on=date(2025, 1, 6))
    subject.last_news_on = date(2026, 6, 1)
    subject.study_status_on = date(2025, 1, 6)
    forms = [
        CasebookForm(
            event="cycle",
            occurrence=n + 1,
            form="treatment",
            repeat=1,
            status="complete",
            not_done_reason="",
            study_version=1,
            rows=[
                CasebookRow(
                    "",
                    0,
                    [
                        CasebookValue(f"item_{k}", f"Item {k} of the form", str(n * k), "")
                        for k in range(8)
                    ],
                )
            ],
        )
        for n in range(max(1, size // 10))
    ]
    start = datetime(2025, 1, 6, 9, tzinfo=UTC)
    audit = [
        AuditLine(
            seq=n + 1,
            at=start + timedelta(hours=n),
            by="nurse.dupont",
            action="item.changed",
            what=f"cycle {n // 10 + 1} treatment · item_{n % 8}",
            old=str(n) if n % 3 else "",
            new=str(n + 1),
            reason="correction after the source check" if n % 5 == 0 else "",
        )
        for n in range(size)
    ]
    return CasebookDocument(
        subject=subject,
        study_version=1,
        blinded=True,
        forms=forms,
        signatures=[],
        audit=audit,
        content_sha256="0" * 64,
    )


def _floor(document: Any) -> str:
    """Return the casebook's text (values and trail) as plain paragraphs, same style sheet."""
    from django.utils.html import escape

    from carnet.interop.crf_documents import print_css

    values = "".join(
        f"<p>{form.event} {form.occurrence} {form.form} "
        + " ".join(f"{escape(v.label)} {v.name} {escape(v.text)}" for v in row.values)
        + "</p>"
        for form in document.forms
        for row in form.rows
    )
    lines = "".join(
        f"<p>{line.seq} {line.at:%Y-%m-%d %H:%M} {escape(line.by)} {escape(line.action)} "
        f"{escape(line.what)} {escape(line.old)} {escape(line.new)} {escape(line.reason)}</p>"
        for line in document.audit
    )
    return f"<html><head><style>{print_css()}</style></head><body>{values}{lines}</body></html>"


def _child(task: str, size: int) -> None:
    import django

    django.setup()
    from carnet.core.pdf import html_to_pdf
    from carnet.interop.casebook_documents import casebook_pdf

    document = _document(size)
    html_to_pdf("<p>warm</p>")  # WeasyPrint's import and fonts, outside the measure
    began = time.perf_counter()
    pdf = casebook_pdf(document) if task == "casebook" else html_to_pdf(_floor(document))
    seconds = time.perf_counter() - began
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"seconds={seconds:.3f} peak_mb={peak_mb:.1f} bytes={len(pdf)}")


def _run(task: str, size: int, data: str) -> dict[str, float]:
    env = {**os.environ, "CARNET_DATA_DIR": data, "CARNET_PROFILE": "local"}
    env |= {"DJANGO_SETTINGS_MODULE": "carnet.config.settings.local", "CARNET_DEBUG": "off"}
    out = subprocess.run(
        [sys.executable, __file__, "--child", task, "--sizes", str(size)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {k: float(v) for k, v in (i.split("=") for i in out.strip().splitlines()[-1].split())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 and 300 audit lines.")
    parser.add_argument("--sizes", default="500,2000", help="Audit lines, comma-separated.")
    parser.add_argument("--child", choices=TASKS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = [100, 300] if args.quick else [int(s) for s in args.sizes.split(",")]
    if args.child:
        _child(args.child, sizes[0])
        return
    figures = []
    with tempfile.TemporaryDirectory(prefix="carnet-bench-casebook-") as data:
        for size in sizes:
            results = {task: _run(task, size, data) for task in TASKS}
            for task, result in results.items():
                print(
                    f"{size} lines  {task:<10} {result['seconds']:7.2f} s "
                    f"{result['peak_mb']:7.1f} MB",
                    flush=True,
                )
            ratio = results["casebook"]["seconds"] / results["floor"]["seconds"]
            figures.append(
                f"lines={size} casebook_s={results['casebook']['seconds']:.2f} "
                f"casebook_mb={results['casebook']['peak_mb']:.0f} "
                f"floor_s={results['floor']['seconds']:.2f} "
                f"casebook_vs_floor={ratio:.2f}"
            )
    print(" | ".join(figures))


if __name__ == "__main__":
    main()
