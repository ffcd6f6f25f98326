"""The worker killed in the middle of a task (SIGKILL: a crash, an OOM kill, a power cut) and
started again runs that task once: what the killed run wrote was rolled back with it, and the
task, left marked running, goes back in the queue."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django_tasks_db.models import DBTaskResult

from carnet.messaging.models import Message
from tests.accounts.personas import person
from tests.conftest import REPOSITORY, carnet_executable
from tests.worker.probe_tasks import probe_note_once

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_database_url() -> str:
    """Return DATABASE_URL for the database this test runs on, for a worker in another process."""
    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{database['NAME']}"
    password = f":{database['PASSWORD']}" if database.get("PASSWORD") else ""
    host = database.get("HOST") or "127.0.0.1"
    port = database.get("PORT") or 5432
    return f"postgres://{database['USER']}{password}@{host}:{port}/{database['NAME']}"


test_database_url.__test__ = False  # type: ignore[attr-defined]


def worker_environment(data_dir: Path) -> dict[str, str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("CARNET_", "DJANGO_")) and key != "DATABASE_URL"
    }
    environment.update(
        CARNET_DATA_DIR=str(data_dir),
        DJANGO_SETTINGS_MODULE="carnet.config.settings.local",
        DATABASE_URL=test_database_url(),
        # The probe tasks live in the test suite: the worker imports them by name.
        PYTHONPATH=str(REPOSITORY),
    )
    return environment


def wait_for(path: Path, process: subprocess.Popen[str], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if process.poll() is not None:
            output, _ = process.communicate()
            raise AssertionError(f"the worker ended before the task started:\n{output}")
        if time.monotonic() > deadline:
            raise AssertionError(f"the task did not start within {seconds} s")
        time.sleep(0.05)


def test_a_worker_killed_during_a_task_runs_it_once_after_a_restart(tmp_path: Path) -> None:
    person("nurse")
    flag = tmp_path / "hang"
    flag.touch()
    task = probe_note_once.enqueue("nurse", "probe-once", str(flag))
    environment = worker_environment(tmp_path)

    first = subprocess.Popen(
        [carnet_executable(), "worker", "--interval", "0.2"],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(flag.with_suffix(".hanging"), first, seconds=30)
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=10)

    killed = DBTaskResult.objects.get(pk=task.id)
    assert killed.status == "RUNNING"  # nobody could record its end
    assert not Message.objects.filter(key="probe-once").exists()  # rolled back with the process

    restarted = subprocess.run(
        [carnet_executable(), "worker", "--once"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    assert f"Task {task.id} was left running by a worker that stopped: requeued." in (
        restarted.stdout
    )

    done = DBTaskResult.objects.get(pk=task.id)
    assert done.status == "SUCCESSFUL"
    assert done.return_value == 1
    assert len(done.worker_ids) == 2  # the killed worker, then the restarted one
    assert Message.objects.filter(key="probe-once").count() == 1

    again = io.StringIO()
    call_command("worker", "--once", stdout=again)
    assert "probe_note_once" not in again.getvalue()  # it does not run a second time
    assert DBTaskResult.objects.get(pk=task.id).worker_ids == done.worker_ids
