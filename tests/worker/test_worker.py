"""`carnet worker`: tasks run after commit and never after a rollback, periodic jobs are enqueued
once per interval, `--status` says what is queued, running and failed, and a task left running by
a worker that died goes back in the queue."""

from __future__ import annotations

import io
import os
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.core.management import call_command
from django.db import transaction
from django_tasks_db.models import DBTaskResult

from carnet.worker.models import PeriodicJob, WorkerProcess
from carnet.worker.services import enqueue_after_commit
from tests.worker.probe_tasks import probe_fail, probe_write

NOON = datetime(2025, 6, 16, 12, 0, tzinfo=UTC)


def worker(*arguments: str) -> str:
    """Run `carnet worker` in this process and return what it printed."""
    out = io.StringIO()
    call_command("worker", *arguments, stdout=out)
    return out.getvalue()


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.django_db(transaction=True)
def test_a_task_enqueued_in_a_transaction_runs_after_the_commit(tmp_path: Path) -> None:
    trace = tmp_path / "trace"
    with transaction.atomic():
        enqueue_after_commit(probe_write, str(trace), "committed")
        # Nothing is queued while the transaction may still roll back.
        assert not DBTaskResult.objects.exists()
    assert DBTaskResult.objects.get().status == "READY"
    assert lines(trace) == []  # it waits for a worker: nothing lost without one

    worker("--once")

    assert lines(trace) == ["committed"]
    result = DBTaskResult.objects.get(task_path="tests.worker.probe_tasks.probe_write")
    assert (result.status, result.return_value) == ("SUCCESSFUL", "committed")


@pytest.mark.django_db(transaction=True)
def test_a_task_enqueued_in_a_transaction_that_rolls_back_never_runs(tmp_path: Path) -> None:
    trace = tmp_path / "trace"

    class Refused(Exception):
        pass

    def refused_save() -> None:
        with transaction.atomic():
            enqueue_after_commit(probe_write, str(trace), "rolled back")
            raise Refused

    with pytest.raises(Refused):
        refused_save()

    worker("--once")
    assert lines(trace) == []
    assert not DBTaskResult.objects.filter(task_path__endswith="probe_write").exists()


@pytest.mark.django_db
def test_a_periodic_job_is_enqueued_once_per_interval_even_after_a_long_stop() -> None:
    with time_machine.travel(NOON, tick=False) as clock:
        worker("--once")
        job = PeriodicJob.objects.get(name="schedules-refresh")
        assert job.last_run_at == NOON
        assert job.next_run_at == NOON + timedelta(hours=1)
        runs = DBTaskResult.objects.filter(task_path="carnet.subjects.tasks.schedules_refresh")
        assert list(runs.values_list("status", flat=True)) == ["SUCCESSFUL"]

        worker("--once")  # a restart within the hour enqueues nothing more
        assert runs.count() == 1

        clock.move_to(NOON + timedelta(hours=5))  # no worker for five hours: one run, not five
        worker("--once")
        assert runs.count() == 2
        job.refresh_from_db()
        assert job.next_run_at == NOON + timedelta(hours=6)


@pytest.mark.django_db
def test_the_status_shows_what_is_queued_running_and_failed(
    tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        probe_fail.enqueue("the mail server said no")
    worker("--once")
    with django_capture_on_commit_callbacks(execute=True):
        probe_write.enqueue(str(tmp_path / "trace"), "later")
        probe_write.using(run_after=datetime.now(UTC) + timedelta(hours=1)).enqueue(
            str(tmp_path / "trace"), "in an hour"
        )
    running = probe_write.enqueue(str(tmp_path / "trace"), "under way")
    DBTaskResult.objects.filter(pk=running.id).update(status="RUNNING", worker_ids=["w-busy"])
    WorkerProcess.objects.create(
        worker_id="w-busy",
        host="another-host",
        pid=4242,
        started_at=datetime.now(UTC),
        last_seen_at=datetime.now(UTC),
    )

    status = worker("--status")

    assert "Queued: 2 (1 due now, 1 waiting for their time)" in status
    assert "Running: 1" in status
    assert f"tests.worker.probe_tasks.probe_write {running.id} since" in status
    assert "Failed in the last 7 days: 1" in status
    assert "RuntimeError: the mail server said no" in status
    assert "schedules-refresh: every 1 h" in status
    assert "w-busy: pid 4242 on another-host" in status
    assert "Outbox: 0 messages waiting to be sent" in status


def _left_running(tmp_path: Path, *, worker_id: str, host: str, pid: int, seen: datetime) -> str:
    result = probe_write.enqueue(str(tmp_path / "trace"), "ran")
    DBTaskResult.objects.filter(pk=result.id).update(
        status="RUNNING", worker_ids=[worker_id], started_at=seen
    )
    WorkerProcess.objects.create(
        worker_id=worker_id, host=host, pid=pid, started_at=seen, last_seen_at=seen
    )
    return str(result.id)


@pytest.mark.django_db
def test_a_task_left_running_by_a_worker_that_died_runs_again_once(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    # On this host, a process number that no process holds: that worker is dead.
    dead_pid = 2**22 + 17
    assert not os.path.exists(f"/proc/{dead_pid}")
    result_id = _left_running(
        tmp_path, worker_id="w-dead", host=socket.gethostname(), pid=dead_pid, seen=now
    )

    output = worker("--once")

    assert f"Task {result_id} was left running by a worker that stopped: requeued." in output
    assert lines(tmp_path / "trace") == ["ran"]
    result = DBTaskResult.objects.get(pk=result_id)
    assert result.status == "SUCCESSFUL"
    assert result.worker_ids[0] == "w-dead"
    assert len(result.worker_ids) == 2
    worker("--once")
    assert lines(tmp_path / "trace") == ["ran"]  # and never again


@pytest.mark.django_db
def test_a_task_of_a_worker_alive_elsewhere_is_left_alone_unless_asked(tmp_path: Path) -> None:
    result_id = _left_running(
        tmp_path, worker_id="w-alive", host="another-host", pid=4242, seen=datetime.now(UTC)
    )
    worker("--once")
    assert DBTaskResult.objects.get(pk=result_id).status == "RUNNING"
    assert lines(tmp_path / "trace") == []

    # The operator knows that host's worker is gone (the machine was switched off).
    worker("--once", "--requeue-running")
    assert DBTaskResult.objects.get(pk=result_id).status == "SUCCESSFUL"
    assert lines(tmp_path / "trace") == ["ran"]


@pytest.mark.django_db
def test_a_worker_silent_for_too_long_is_taken_for_dead(tmp_path: Path) -> None:
    result_id = _left_running(
        tmp_path,
        worker_id="w-silent",
        host="another-host",
        pid=4242,
        seen=datetime.now(UTC) - timedelta(minutes=5),
    )
    worker("--once")
    assert DBTaskResult.objects.get(pk=result_id).status == "SUCCESSFUL"


@pytest.mark.django_db
def test_a_failed_task_is_recorded_with_its_error_and_the_worker_goes_on(tmp_path: Path) -> None:
    probe_fail.enqueue("broken")
    probe_write.enqueue(str(tmp_path / "trace"), "after")
    output = worker("--once")
    assert "failed" in output
    assert "RuntimeError: broken" in output
    failed = DBTaskResult.objects.get(task_path__endswith="probe_fail")
    assert failed.status == "FAILED"
    assert "RuntimeError: broken" in failed.traceback
    assert lines(tmp_path / "trace") == ["after"]
