"""Benchmark: concurrent HTTP clients saving 25-item forms through the real server.

For each database, a fresh installation (a temporary data directory; for PostgreSQL a fresh
database, dropped at the end) is migrated and given the bench study (bench/capture-bench.yaml:
one 25-item form), one site, one data-entry account with an API token and one subject per
client. `carnet serve` (gunicorn) then serves it with bench/bench_settings.py, the local profile
plus a floor endpoint doing one INSERT and a lean save (bench/lean_save.py). N client threads,
each with a keep-alive connection, save a new visit's form (25 values, each with its audit
event) as fast as they can; then the same clients call the floor, then the lean save. Reported:
saves/s, p50 and p99 latency, the floor's rate, and the ratio of the two; and the lean save's
rate and ratio: the ceiling of the ratio for any save that writes what this one writes (the
values and one chained audit event per value), since it does only that, in hand-written SQL;
and the save's rate against the lean save's (issue 21's target: at least 0.6).
Last, the clients save at random moments, ``--rate`` saves/s in all (a Poisson process), and
the latency of those saves is reported, counted from when each was due: what a person saving a
form notices at that load, rather than when the server is saturated; then the lean save at the
same pace, the latency any save writing what this one writes could have on the same machine.
The study's audit chain is verified at the end (`carnet audit verify`).

    .venv/bin/python bench/capture_save.py [--quick] [--clients 16] [--seconds 20]
        [--database sqlite|postgresql|both] [--workers 4] [--rate 20]

The last line holds the figures.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPOSITORY = BENCH.parent
CARNET = str(Path(sys.executable).with_name("carnet"))
STUDY = "BENCH-SAVE"
POSTGRES = "postgres://postgres@127.0.0.1:5432"

SETUP = """
import sys
from datetime import timedelta
from pathlib import Path
import django
django.setup()
from carnet.accounts.roles import Role
from carnet.accounts.services import (
    centre_add, role_grant, site_activate, site_add, token_create, user_create)
from carnet.audit.services import SystemActor
from carnet.core.clock import utc_today
from carnet.studies.definition import study_file_read
from carnet.studies.services import study_load, study_mode_change, study_publish
from carnet.subjects.services import ConsentGiven, subject_include

actor = SystemActor(label="bench/capture_save.py")
clients = int(sys.argv[1])
study = study_load(actor=actor, study_file=study_file_read(Path(sys.argv[2])),
                   source_name="capture-bench.yaml").study
study_publish(actor=actor, study=study)
study.refresh_from_db()
study = study_mode_change(actor=actor, study=study, mode="production")
today = utc_today()
centre = centre_add(actor=actor, code="BEN", name="Bench centre", city="Montpellier")
site = site_activate(actor=actor, site=site_add(actor=actor, study=study, centre=centre),
                     on=today - timedelta(days=30))
user = user_create(actor=actor, username="bench", password="a long bench password",
                   full_name="Bench data entry")
role_grant(actor=actor, user=user, study=study, site=site, role=Role.DATA_ENTRY,
           starts_on=today - timedelta(days=30))
subjects = [
    subject_include(actor=user, study=study, site=site, included_on=today,
                    eligibility={"visit.weight": 70},
                    consent=ConsentGiven(form_version="v1", consented_on=today)).identifier
    for _ in range(clients)
]
print(token_create(actor=actor, user=user, study=study)[1])
print(" ".join(subjects))
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def form_values(client: int, visit: int) -> dict[str, Any]:
    """Return the 25 entered values of one visit (the 26th item, BMI, is calculated)."""
    day = time.strftime("%Y-%m-%d", time.gmtime())
    return {
        "visit_date": day, "weight": f"{60 + client}.{visit % 10}", "height": 170,
        "sbp": 110 + visit % 50, "dbp": 70 + visit % 20, "heart_rate": 60 + visit % 40,
        "temperature": "36.8", "ecog": visit % 2, "haemoglobin": "12.4", "leukocytes": "6.20",
        "neutrophils": "3.40", "platelets": 200 + visit % 100, "creatinine": 70 + visit % 30,
        "bilirubin": "8.5", "alt": 20 + visit % 15, "ast": 22 + visit % 15, "albumin": "39.5",
        "fatigue": visit % 3, "nausea": visit % 2, "diarrhoea": 0, "neuropathy": visit % 2,
        "dose_given": 1, "dose_date": day, "dose_mg": 560, "comment": f"bench {client}/{visit}",
    }  # fmt: skip


class Installation:
    """A fresh data directory and database, migrated, with the bench study set up."""

    def __init__(self, database: str, workdir: Path) -> None:
        self.database = database
        self.data_dir = workdir / database
        self.data_dir.mkdir()
        self.environment = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("CARNET_", "DJANGO_")) and k != "DATABASE_URL"
        }
        self.environment |= {
            "CARNET_DATA_DIR": str(self.data_dir),
            "DJANGO_SETTINGS_MODULE": "bench_settings",
            "PYTHONPATH": os.pathsep.join([str(BENCH), os.environ.get("PYTHONPATH", "")]),
        }
        self.postgres_name = ""
        if database == "postgresql":
            self.postgres_name = f"carnet_bench_{uuid.uuid4().hex[:10]}"
            self._postgres(f'CREATE DATABASE "{self.postgres_name}"')
            self.environment["DATABASE_URL"] = f"{POSTGRES}/{self.postgres_name}"

    def _postgres(self, statement: str, database: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(f"{POSTGRES}/{database}", autocommit=True) as connection:
            connection.execute(statement)  # type: ignore[arg-type]

    def run(self, *arguments: str) -> str:
        result = subprocess.run(
            arguments, env=self.environment, capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise SystemExit(f"{' '.join(arguments)} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def prepare(self, clients: int) -> tuple[str, list[str]]:
        self.run(CARNET, "migrate", "--no-input")
        floor_table = "CREATE TABLE bench_floor (id {}, payload TEXT)"
        if self.postgres_name:
            self._postgres(floor_table.format("BIGSERIAL PRIMARY KEY"), self.postgres_name)
        else:
            with sqlite3.connect(self.data_dir / "carnet.sqlite3") as connection:
                connection.execute(floor_table.format("INTEGER PRIMARY KEY AUTOINCREMENT"))
        output = self.run(
            sys.executable, "-c", SETUP, str(clients), str(BENCH / "capture-bench.yaml")
        ).splitlines()
        return output[-2].strip(), output[-1].split()

    def drop(self) -> None:
        if self.postgres_name:
            self._postgres(f'DROP DATABASE IF EXISTS "{self.postgres_name}" WITH (FORCE)')


class Client(threading.Thread):
    """One data-entry client: a keep-alive connection sending requests back to back, or, in the
    "paced" mode, saves at random moments (a Poisson process of ``mean_gap`` seconds)."""

    def __init__(self, number: int, port: int, token: str, subject: str) -> None:
        super().__init__(daemon=True)
        self.number, self.port, self.subject = number, port, subject
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.mode = "idle"
        self.mean_gap = 1.0
        self.due = 0.0  # paced mode: when the next save is due
        self.visit = 0
        self.samples: list[tuple[str, float, float]] = []  # (mode, finished at, seconds)
        self.errors: list[str] = []
        self.stop = threading.Event()

    def request(self, connection: http.client.HTTPConnection) -> None:
        started = time.perf_counter()
        if self.mode in ("paced", "paced_lean"):
            # Latency counts from when the save was due, so a save that waited behind a slow
            # one counts its wait (no coordinated omission), however far behind it falls.
            if self.due > started:
                time.sleep(self.due - started)
            started, self.due = self.due, self.due + random.expovariate(1 / self.mean_gap)
        if self.mode in ("save", "lean", "paced", "paced_lean"):
            self.visit += 1
            lean = self.mode in ("lean", "paced_lean")
            path = (
                f"/bench/lean/{STUDY}/{self.subject}/{self.visit}"
                if lean
                else f"/api/studies/{STUDY}/subjects/{self.subject}/forms/visit/{self.visit}/"
                "assessment"
            )
            body = json.dumps({"version": 0, "values": form_values(self.number, self.visit)})
            method = "POST" if lean else "PUT"
        else:
            path, body, method = "/bench/floor", json.dumps({"client": self.number}), "POST"
        connection.request(method, path, body=body, headers=self.headers)
        response = connection.getresponse()
        response.read()
        finished = time.perf_counter()
        if response.status != 200:
            self.errors.append(f"{method} {path}: {response.status}")
        else:
            self.samples.append((self.mode, finished, finished - started))

    def run(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        while not self.stop.is_set():
            if self.mode == "idle":
                time.sleep(0.01)
                continue
            try:
                self.request(connection)
            except (OSError, http.client.HTTPException) as error:
                self.errors.append(repr(error))
                connection.close()  # reconnects on the next request


def measure(clients: list[Client], mode: str, warm_up: float, seconds: float) -> dict[str, float]:
    for client in clients:
        client.mode = mode
    time.sleep(warm_up)
    start = time.perf_counter()
    time.sleep(seconds)
    end = time.perf_counter()
    for client in clients:
        client.mode = "idle"
    time.sleep(0.5)
    latencies = sorted(
        took
        for client in clients
        for kind, finished, took in client.samples
        if kind == mode and start <= finished <= end
    )
    if not latencies:
        raise SystemExit(f"no {mode} completed: {[c.errors[:2] for c in clients]}")
    return {
        "rate": len(latencies) / (end - start),
        "p50": 1000 * statistics.median(latencies),
        "p99": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
        "count": len(latencies),
    }


def _paced(
    clients: list[Client], mode: str, rate: float, warm_up: float, seconds: float
) -> dict[str, float]:
    """Measure ``mode`` offered at ``rate`` requests/s in all, each client a Poisson process."""
    for client in clients:
        client.mean_gap = len(clients) / rate
        client.due = time.perf_counter() + random.expovariate(1 / client.mean_gap)
    return measure(clients, mode, warm_up, seconds)


def bench_database(database: str, arguments: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="carnet-bench-"))
    installation = Installation(database, workdir)
    server = None
    try:
        token, subjects = installation.prepare(arguments.clients)
        port = free_port()
        server = subprocess.Popen(
            [CARNET, "serve", "--port", str(port), "--workers", str(arguments.workers)],
            env=installation.environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("carnet serve did not start") from None
                time.sleep(0.2)
        clients = [Client(n, port, token, subject) for n, subject in enumerate(subjects, start=1)]
        for client in clients:
            client.start()
        warm_up = 0.5 if arguments.quick else 3.0
        saves = measure(clients, "save", warm_up, arguments.seconds)
        floor = measure(clients, "floor", warm_up, arguments.seconds / 2)
        lean = measure(clients, "lean", warm_up, arguments.seconds / 2)
        paced = _paced(clients, "paced", arguments.rate, warm_up, arguments.seconds)
        # The lean save at the same pace: the latency any save writing what this one writes
        # could have on this machine, the floor of the p99 target.
        paced_lean = _paced(clients, "paced_lean", arguments.rate, warm_up, arguments.seconds)
        for client in clients:
            client.stop.set()
        errors = [error for client in clients for error in client.errors]
        if errors:
            raise SystemExit(f"{len(errors)} requests failed, e.g. {errors[:3]}")
        # The saves and the lean saves share the study's chain: it must verify.
        installation.run(CARNET, "audit", "verify")
        return {
            "database": database,
            "saves": saves,
            "floor": floor,
            "lean": lean,
            "paced": paced,
            "paced_lean": paced_lean,
        }
    finally:
        if server is not None and server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        installation.drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Short runs (under a minute).")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=None, help="Seconds of saves measured.")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (default 4).")
    parser.add_argument(
        "--rate", type=float, default=20.0, help="Saves/s offered in the paced run (default 20)."
    )
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    arguments = parser.parse_args()
    if arguments.seconds is None:
        arguments.seconds = 4.0 if arguments.quick else 20.0
    databases = ["postgresql", "sqlite"] if arguments.database == "both" else [arguments.database]
    results = []
    for database in databases:
        result = bench_database(database, arguments)
        saves, floor, lean, paced, paced_lean = (
            result[k] for k in ("saves", "floor", "lean", "paced", "paced_lean")
        )
        print(
            f"{database}: {arguments.clients} clients, {arguments.workers} workers: "
            f"{saves['rate']:.0f} saves/s (25 items; p50 {saves['p50']:.0f} ms, "
            f"p99 {saves['p99']:.0f} ms, {saves['count']:.0f} saves); floor (one INSERT) "
            f"{floor['rate']:.0f} req/s (p50 {floor['p50']:.0f} ms, p99 {floor['p99']:.0f} ms); "
            f"ratio {saves['rate'] / floor['rate']:.2f}; lean save (bench/lean_save.py, the "
            f"ceiling) {lean['rate']:.0f} saves/s (p50 {lean['p50']:.0f} ms, "
            f"p99 {lean['p99']:.0f} ms), ratio {lean['rate'] / floor['rate']:.2f}; the save "
            f"against the lean save {saves['rate'] / lean['rate']:.2f}; paced at "
            f"{arguments.rate:.0f} saves/s offered: {paced['rate']:.0f} saves/s, p50 "
            f"{paced['p50']:.0f} ms, p99 {paced['p99']:.0f} ms; the lean save at that pace: "
            f"{paced_lean['rate']:.0f} saves/s, p50 {paced_lean['p50']:.0f} ms, p99 "
            f"{paced_lean['p99']:.0f} ms",
            flush=True,
        )
        results.append(result)
    print(
        " | ".join(
            f"{r['database']} saves/s={r['saves']['rate']:.0f} p50={r['saves']['p50']:.0f}ms "
            f"p99={r['saves']['p99']:.0f}ms floor/s={r['floor']['rate']:.0f} "
            f"ratio={r['saves']['rate'] / r['floor']['rate']:.2f} "
            f"lean/s={r['lean']['rate']:.0f} lean_p99={r['lean']['p99']:.0f}ms "
            f"lean_ratio={r['lean']['rate'] / r['floor']['rate']:.2f} "
            f"save_to_lean={r['saves']['rate'] / r['lean']['rate']:.2f} "
            f"paced{arguments.rate:.0f}_p50={r['paced']['p50']:.0f}ms "
            f"paced{arguments.rate:.0f}_p99={r['paced']['p99']:.0f}ms "
            f"paced{arguments.rate:.0f}_lean_p99={r['paced_lean']['p99']:.0f}ms"
            for r in results
        )
    )


if __name__ == "__main__":
    main()
