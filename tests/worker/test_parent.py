"""`carnet serve` starts its worker with its own process number: a server killed before the
worker is even ready (a crash at start, a SIGKILL) leaves no worker running on, orphaned."""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from carnet.operations.management.commands import serve
from tests.conftest import carnet_executable
from tests.worker.test_restart import worker_environment

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")


def test_a_worker_whose_server_ended_before_it_started_stops(tmp_path: Path) -> None:
    # A shell stands for the server: it starts the worker with its own process number and ends
    # at once, before the worker has even loaded Django.
    output = tmp_path / "worker.txt"
    subprocess.run(
        [
            "sh",
            "-c",
            '"$0" worker --interval 0.2 --parent $$ > "$1" 2>&1 & exit 0',
            carnet_executable(),
            str(output),
        ],
        env=worker_environment(tmp_path),
        check=True,
    )
    deadline = time.monotonic() + 60
    while "stopped after" not in (text := output.read_text() if output.exists() else ""):
        assert time.monotonic() < deadline, f"the orphaned worker did not stop:\n{text}"
        time.sleep(0.2)
    assert "The process that started the worker has ended." in text
    started = re.search(r"started \(pid (\d+)\)", text)
    assert started is not None, text
    deadline = time.monotonic() + 10
    while _alive(int(started.group(1))):
        assert time.monotonic() < deadline, "the worker process is still running"
        time.sleep(0.1)


def test_the_server_gives_its_worker_its_own_process_number(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[list[str]] = []

    def popen(arguments: list[str], **options: object) -> object:
        started.append(arguments)
        return object()

    monkeypatch.setattr(serve.subprocess, "Popen", popen)
    serve._worker_start()
    assert started[0][-2:] == ["--parent", str(os.getpid())]
