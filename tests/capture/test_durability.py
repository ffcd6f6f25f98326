"""A save the server acknowledged survives the server being killed mid-way.

The real server (`carnet serve`, gunicorn) takes concurrent saves over HTTP from a few clients;
the whole process group is killed with SIGKILL while they write, as a crash or an OOM kill would.
After a restart, every save that got a 2xx answer is read back with its values, no form holds
half a save, and the audit chains verify.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from carnet.core.clock import utc_today
from tests.conftest import Installation, carnet_executable

pytestmark = pytest.mark.slow

STUDY = "MAINTAIN-CRC"
CLIENTS = 4
# Acknowledged saves before the kill: enough that requests are in flight in every worker.
KILL_AFTER = 60
VITALS = ("weight", "sbp", "dbp", "heart_rate", "temperature")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def eligible(induction_start: str, induction_end: str) -> dict[str, Any]:
    """Return values that meet every MAINTAIN-CRC criterion (exclusions need an explicit 0)."""
    return {
        "screening.age": 61,
        "screening.incl_histology": 1,
        "screening.incl_metastatic": 1,
        "screening.induction_start": induction_start,
        "screening.induction_end": induction_end,
        "screening.induction_resp": 2,
        "baseline.ecog_ps": 0,
        "baseline.neutrophils": 3.2,
        "baseline.platelets": 240,
        "baseline.haemoglobin": 12.5,
        "baseline.creat_clearance": 88,
        "baseline.bilirubin": 9.0,
        "baseline.bili_uln": 21.0,
        "baseline.alt": 30,
        "baseline.alt_uln": 40,
        "baseline.ast": 28,
        "baseline.ast_uln": 40,
        "screening.met_sites": [1],
        "screening.incl_social_security": 1,
        "screening.msi_status": 1,
        "screening.excl_brain_mets": 0,
        "screening.excl_other_cancer": 0,
        "baseline.sbp": 130,
        "baseline.dbp": 80,
        "screening.excl_hypertension": 0,
        "baseline.proteinuria": 0,
        "screening.excl_bleeding": 0,
        "screening.excl_pregnancy": 0,
        "screening.excl_other_trial": 0,
        "screening.excl_legal_protection": 0,
    }


class Client:
    """One keep-alive HTTP connection authenticated by an API token."""

    def __init__(self, port: int, token: str) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        payload = None if body is None else json.dumps(body)
        self.connection.request(method, path, body=payload, headers=self.headers)
        response = self.connection.getresponse()
        data = response.read()
        return response.status, json.loads(data) if data else None


@dataclass
class Writer:
    """A data-entry client saving one new cycle's vital signs after another for its subject."""

    subject: str
    acknowledged: dict[int, dict[str, str]] = field(default_factory=dict)
    failure: str = ""

    def values(self, cycle: int) -> dict[str, str]:
        # Distinct per subject and cycle, so a value read back can only come from its own save.
        seed = int(self.subject.split("-")[1])
        return {
            # Never a whole number: the stored text of 62.0 is 62.
            "weight": f"{60 + seed}.{cycle % 9 + 1}",
            "sbp": str(100 + cycle % 150),
            "dbp": str(60 + cycle % 25),
            "heart_rate": str(60 + (seed * 7 + cycle) % 50),
            "temperature": "36.8",
        }

    def run(self, port: int, token: str, stop: threading.Event) -> None:
        client = Client(port, token)
        cycle = 0
        while not stop.is_set():
            cycle += 1
            path = f"/api/studies/{STUDY}/subjects/{self.subject}/forms/cycle/{cycle}/vital_signs"
            try:
                status, body = client.call(
                    "PUT", path, {"version": 0, "values": self.values(cycle)}
                )
            except (OSError, http.client.HTTPException):
                return  # the server is gone: what it acknowledged is what counts
            if status != 200:
                self.failure = f"{path}: {status} {body}"
                return
            self.acknowledged[cycle] = self.values(cycle)


def start_server(site: Installation, port: int) -> subprocess.Popen[str]:
    # A session of its own: killing the group kills gunicorn's master and workers at once.
    server = subprocess.Popen(
        [carnet_executable(), "serve", "--port", str(port), "--workers", "2"],
        env=site.environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                os.killpg(server.pid, signal.SIGKILL)
                raise AssertionError("carnet serve did not start") from None
            time.sleep(0.2)


def test_every_acknowledged_save_survives_a_killed_server(make_installation) -> None:  # type: ignore[no-untyped-def]
    site: Installation = make_installation()
    site.run("demo", "--no-patients", "--password", "durability test password")
    token = site.run("token", "create", "dataentry", STUDY).stdout.strip()

    port = free_port()
    server = start_server(site, port)
    try:
        today = utc_today()
        setup = Client(port, token)
        subjects = []
        for number in range(CLIENTS):
            included = today - timedelta(days=3)
            status, body = setup.call(
                "POST",
                f"/api/studies/{STUDY}/subjects",
                {
                    "site": "01",
                    "included_on": included.isoformat(),
                    "consent": {"form_version": "v3.0", "consented_on": included.isoformat()},
                    "eligibility": eligible(
                        (included - timedelta(days=150)).isoformat(),
                        (included - timedelta(days=20)).isoformat(),
                    ),
                    "sex": "F" if number % 2 else "M",
                    "age": 61,
                },
            )
            assert status == 201, body
            subjects.append(body["identifier"])

        writers = [Writer(subject) for subject in subjects]
        stop = threading.Event()
        threads = [
            threading.Thread(target=w.run, args=(port, token, stop), daemon=True) for w in writers
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 120
        while sum(len(w.acknowledged) for w in writers) < KILL_AFTER:
            assert time.monotonic() < deadline, "the saves are too slow to reach the kill point"
            assert not any(w.failure for w in writers), [w.failure for w in writers]
            time.sleep(0.01)
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(w.failure for w in writers), [w.failure for w in writers]
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)

    acknowledged = sum(len(w.acknowledged) for w in writers)
    assert acknowledged >= KILL_AFTER
    port = free_port()
    server = start_server(site, port)
    try:
        reader = Client(port, token)
        for writer in writers:
            last = max(writer.acknowledged)
            # One cycle past the last acknowledged one: the save in flight at the kill may or
            # may not have committed, but never in part.
            for cycle in range(1, last + 2):
                path = (
                    f"/api/studies/{STUDY}/subjects/{writer.subject}/forms/cycle/{cycle}"
                    "/vital_signs"
                )
                status, body = reader.call("GET", path)
                assert status == 200, body
                stored = {name: body["values"].get(name, {}).get("text", "") for name in VITALS}
                if cycle in writer.acknowledged:
                    assert stored == writer.acknowledged[cycle], (writer.subject, cycle)
                    assert body["version"] == 1
                else:
                    assert stored in (dict.fromkeys(VITALS, ""), writer.values(cycle))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)

    verified = site.run("audit", "verify")
    assert "audit chains are intact" in verified.stdout
