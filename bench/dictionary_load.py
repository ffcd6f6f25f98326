"""Benchmark: loading a MedDRA-sized dictionary version from a zip, as the page and the API do.

A synthetic MedDRA distribution in the ASCII format (invented codes and names: no MedDRA
content) of the size of a real version (80,000 LLTs, 26,000 PTs, the SOC/HLGT/HLT levels) is
zipped and loaded by `carnet.coding.uploads.dictionary_upload` (unzip, check every line, write
in one transaction, audit) into a fresh installation (a temporary SQLite file, or a fresh
PostgreSQL database dropped at the end). The floor, in the same run, is `meddra_read` of the
same files: reading and checking them without writing anything. The best of the rounds is
reported (each load is a new version).

    .venv/bin/python bench/dictionary_load.py [--quick] [--database sqlite|postgresql]

``--quick``: 20,000 LLTs and 2 rounds (under a minute). The last line holds the figures.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from pathlib import Path

POSTGRES = "postgres://postgres@127.0.0.1:5432"


def _distribution(folder: Path, llts: int) -> Path:
    """Write a synthetic MedAscii folder: 26 SOCs, HLGT/HLT levels, one PT per 3 LLTs."""
    folder.mkdir(parents=True, exist_ok=True)
    pts = max(1, llts // 3)
    socs = {91000000 + i: f"Synthetic organ class {i}" for i in range(26)}
    hlgts = {92000000 + i: (f"Synthetic group term {i}", 91000000 + i % 26) for i in range(330)}
    hlts = {93000000 + i: (f"Synthetic high term {i}", 92000000 + i % 330) for i in range(1700)}
    pt_rows = {94000000 + i: (f"Synthetic preferred {i}", 93000000 + i % 1700) for i in range(pts)}

    def write(name: str, lines: list[str]) -> None:
        (folder / name).write_text("".join(line + "\n" for line in lines), encoding="utf-8")

    soc_of_hlt = {h: hlgts[g][1] for h, (_n, g) in hlts.items()}
    write("soc.asc", [f"{c}${n}$S{c % 100}$$$$$$$$" for c, n in socs.items()])
    write("hlgt.asc", [f"{c}${n}$$$$$$$$" for c, (n, _s) in hlgts.items()])
    write("hlt.asc", [f"{c}${n}$$$$$$$$" for c, (n, _g) in hlts.items()])
    write("pt.asc", [f"{c}${n}$${soc_of_hlt[h]}$$$$$$$$" for c, (n, h) in pt_rows.items()])
    write(
        "llt.asc",
        [
            f"{95000000 + i}$Synthetic lowest {i}${94000000 + i % pts}$$$$$$$Y$$"
            for i in range(llts)
        ],
    )
    write("hlt_pt.asc", [f"{h}${p}$" for p, (_n, h) in pt_rows.items()])
    write("hlgt_hlt.asc", [f"{g}${h}$" for h, (_n, g) in hlts.items()])
    write("soc_hlgt.asc", [f"{s}${g}$" for g, (_n, s) in hlgts.items()])
    write(
        "mdhier.asc",
        [
            f"{p}${h}${hlts[h][1]}${soc_of_hlt[h]}${n}${hlts[h][0]}${hlgts[hlts[h][1]][0]}$"
            f"{socs[soc_of_hlt[h]]}$S$${soc_of_hlt[h]}$Y$"
            for p, (n, h) in pt_rows.items()
        ],
    )
    return folder


def _zipped(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.iterdir()):
            archive.writestr("MedAscii/" + path.name, path.read_bytes())
    return buffer.getvalue()


def _child(llts: int, rounds: int) -> None:
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from carnet.audit.services import SystemActor
    from carnet.coding.files import meddra_read
    from carnet.coding.uploads import UploadedDictionaryFile, dictionary_upload

    with tempfile.TemporaryDirectory() as work:
        folder = _distribution(Path(work) / "MedAscii", llts)
        archive = _zipped(folder)
        floor, load = [], []
        for n in range(rounds):
            began = time.perf_counter()
            meddra_read(folder)
            floor.append(time.perf_counter() - began)
            began = time.perf_counter()
            dictionary_upload(
                actor=SystemActor("bench"),
                kind="meddra",
                version=f"B{n}",
                files=[UploadedDictionaryFile("MedAscii.zip", archive)],
            )
            load.append(time.perf_counter() - began)
    print(f"floor={min(floor):.4f} load={min(load):.4f} zip={len(archive)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 LLTs, 2 rounds.")
    parser.add_argument("--llts", type=int, default=80000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        _child(options.child, options.rounds)
        return
    llts = 20000 if options.quick else options.llts
    rounds = 2 if options.quick else options.rounds
    with tempfile.TemporaryDirectory(prefix="carnet-bench-dictionary-") as data:
        env = {**os.environ, "CARNET_DATA_DIR": data, "CARNET_PROFILE": "local"}
        env["DJANGO_SETTINGS_MODULE"] = "carnet.config.settings.local"
        env["CARNET_DEBUG"] = "off"
        env.pop("DATABASE_URL", None)
        name = ""
        if options.database == "postgresql":
            name = f"carnet_bench_dictionary_{uuid.uuid4().hex[:8]}"
            subprocess.run(
                ["psql", POSTGRES + "/postgres", "-qc", f"CREATE DATABASE {name}"], check=True
            )
            env["DATABASE_URL"] = f"{POSTGRES}/{name}"
        try:
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(llts), "--rounds", str(rounds)],
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
    floor, load = float(figures["floor"]), float(figures["load"])
    load_average = os.getloadavg()[0]
    print(
        f"{options.database} {llts:,} LLTs (zip {int(figures['zip']) // 1024} KiB): "
        f"load {load:.2f} s ({load / floor:.1f}x floor {floor:.2f} s, read and check only); "
        f"best of {rounds}; load average {load_average:.1f}"
    )


if __name__ == "__main__":
    main()
