"""Benchmark: concurrent clients randomising subjects through the real server (PostgreSQL).

A fresh installation (a temporary data directory and a fresh PostgreSQL database, dropped at the
end) is migrated and given bench/randomise-bench.yaml (minimisation on the site and two factors
of the casebook), two sites, an investigator at both with an API token, and enough included
subjects with their factors entered. `carnet serve` (gunicorn) serves it with
bench/bench_settings.py (the local profile plus the one-INSERT floor endpoint). N client
threads, each with a keep-alive connection, POST randomisations of their own subjects back to
back; then the same clients call the floor for as long. Reported: allocations/s, p50 and p99, the
floor's rate and p99, their ratio. Pass: every POST answered 201, and in the database as many
allocations as 201s, one per subject, numbered 1..n without a gap or a repeat (zero duplicates);
the study's audit chain verifies.

    .venv/bin/python bench/randomise.py [--quick] [--clients 16] [--seconds 10] [--workers 4]

The last line holds the figures.
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from capture_save import CARNET, Installation, free_port

BENCH = Path(__file__).resolve().parent
STUDY = "BENCH-RANDO"

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
from carnet.capture.services import form_save
from carnet.core.clock import utc_today
from carnet.studies.definition import study_file_read
from carnet.studies.services import study_load, study_mode_change, study_publish
from carnet.subjects.services import ConsentGiven, subject_include

actor = SystemActor(label="bench/randomise.py")
count = int(sys.argv[1])
study = study_load(actor=actor, study_file=study_file_read(Path(sys.argv[2])),
                   source_name="randomise-bench.yaml").study
study_publish(actor=actor, study=study)
study.refresh_from_db()
study = study_mode_change(actor=actor, study=study, mode="production")
today = utc_today()
user = user_create(actor=actor, username="bench", password="a long bench password",
                   full_name="Bench investigator")
sites = []
for code in ("BEA", "BEB"):
    centre = centre_add(actor=actor, code=code, name=f"Bench centre {code}", city="Montpellier")
    site = site_activate(actor=actor, site=site_add(actor=actor, study=study, centre=centre),
                         on=today - timedelta(days=30))
    role_grant(actor=actor, user=user, study=study, site=site, role=Role.INVESTIGATOR,
               starts_on=today - timedelta(days=30))
    sites.append(site)
subjects = []
for n in range(count):
    subject = subject_include(actor=user, study=study, site=sites[n % 2], included_on=today,
                              eligibility={}, consent=ConsentGiven("v1", today))
    form_save(actor=user, subject=subject, event="baseline", form="stratification",
              base_version=0, values={"strat_ecog": n % 2, "strat_stage": 1 + n % 3})
    subjects.append(subject.identifier)
print(token_create(actor=actor, user=user, study=study)[1])
print(" ".join(subjects))
"""

COUNT_SQL = """
SELECT count(*), count(DISTINCT subject_id), count(DISTINCT number), min(number), max(number)
FROM randomization_allocation
"""


class Client(threading.Thread):
    """One client: randomises its subjects one after the other, or calls the floor."""

    def __init__(self, port: int, token: str, subjects: list[str]) -> None:
        super().__init__(daemon=True)
        self.port, self.subjects = port, list(subjects)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.mode = "idle"
        self.samples: list[tuple[str, float, float]] = []
        self.errors: list[str] = []
        self.created = 0
        self.ran_out = False
        self.stop = threading.Event()

    def request(self, connection: http.client.HTTPConnection) -> None:
        mode = self.mode  # measure() may switch it while the request is in flight
        if mode == "randomise":
            if not self.subjects:
                self.ran_out = True
                self.mode = "idle"
                return
            path = f"/api/studies/{STUDY}/subjects/{self.subjects.pop(0)}/randomisation"
            expected = 201
        else:
            path, expected = "/bench/floor", 200
        started = time.perf_counter()
        connection.request("POST", path, body="{}", headers=self.headers)
        response = connection.getresponse()
        body = response.read()
        finished = time.perf_counter()
        if response.status != expected:
            self.errors.append(f"POST {path}: {response.status} {body[:200]!r}")
            return
        self.created += mode == "randomise"
        self.samples.append((mode, finished, finished - started))

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
                connection.close()


def measure(clients: list[Client], mode: str, seconds: float) -> dict[str, float]:
    for client in clients:
        client.mode = mode
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


def duplicates_check(installation: Installation, created: int) -> str:
    import psycopg

    with psycopg.connect(installation.environment["DATABASE_URL"]) as connection:
        total, subjects, numbers, first, last = connection.execute(COUNT_SQL).fetchone()  # type: ignore[misc]
    if not (total == subjects == numbers == created and first == 1 and last == created):
        raise SystemExit(
            f"FAIL: {created} answered 201 but {total} allocations, {subjects} subjects, "
            f"{numbers} numbers ({first}..{last})"
        )
    return f"{total} allocations, {subjects} subjects, numbers 1..{last}: zero duplicates"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="Short runs (under a minute).")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (default 4).")
    arguments = parser.parse_args()
    seconds = arguments.seconds or (3.0 if arguments.quick else 10.0)
    # Enough subjects that no client runs out while measured: allocations are made one at a
    # time per study, a few tens per second in all on these machines (checked below).
    per_client = int(seconds * 3) if arguments.quick else int(seconds * 5)
    workdir = Path(tempfile.mkdtemp(prefix="carnet-bench-"))
    installation = Installation("postgresql", workdir)
    server = None
    try:
        installation.run(CARNET, "migrate", "--no-input")
        installation._postgres(
            "CREATE TABLE bench_floor (id BIGSERIAL PRIMARY KEY, payload TEXT)",
            installation.postgres_name,
        )
        output = installation.run(
            sys.executable,
            "-c",
            SETUP,
            str(arguments.clients * per_client),
            str(BENCH / "randomise-bench.yaml"),
        ).splitlines()
        token, subjects = output[-2].strip(), output[-1].split()
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
        clients = [
            Client(port, token, subjects[n :: arguments.clients]) for n in range(arguments.clients)
        ]
        for client in clients:
            client.start()
        allocations = measure(clients, "randomise", seconds)
        floor = measure(clients, "floor", seconds)
        for client in clients:
            client.stop.set()
        if any(client.ran_out for client in clients):
            raise SystemExit("a client ran out of subjects: raise per_client")
        errors = [error for client in clients for error in client.errors]
        if errors:
            raise SystemExit(f"FAIL: {len(errors)} requests failed, e.g. {errors[:3]}")
        verdict = duplicates_check(installation, sum(client.created for client in clients))
        installation.run(CARNET, "audit", "verify")
    finally:
        if server is not None and server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        installation.drop()
    ratio = allocations["rate"] / floor["rate"]
    print(
        f"postgresql: {arguments.clients} clients, {arguments.workers} workers: "
        f"{allocations['rate']:.0f} allocations/s (p50 {allocations['p50']:.0f} ms, "
        f"p99 {allocations['p99']:.0f} ms, {allocations['count']:.0f} allocations); floor (one "
        f"INSERT) {floor['rate']:.0f} req/s (p50 {floor['p50']:.0f} ms, p99 {floor['p99']:.0f} "
        f"ms); ratio {ratio:.2f}; {verdict}",
        flush=True,
    )
    print(
        f"PASS allocations/s={allocations['rate']:.0f} p99={allocations['p99']:.0f}ms "
        f"floor/s={floor['rate']:.0f} floor_p99={floor['p99']:.0f}ms ratio={ratio:.2f} "
        f"duplicates=0"
    )


if __name__ == "__main__":
    main()
