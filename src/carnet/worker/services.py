"""Writes of the worker: enqueue after commit, the periodic jobs' clocks, workers' heartbeats and
putting back in the queue the tasks of a worker that died."""

from __future__ import annotations

import functools
import logging
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django_tasks.base import Task, TaskResult, TaskResultStatus
from django_tasks_db.models import DBTaskResult

from carnet.core.clock import utc_now
from carnet.worker.models import PeriodicJob, WorkerProcess

logger = logging.getLogger("carnet.worker")

# A worker writes that it is alive this often, even in the middle of a long task ...
HEARTBEAT_SECONDS = 10
# ... and one silent for this long is taken for dead: its running task goes back in the queue.
HEARTBEAT_TIMEOUT = timedelta(seconds=60)


def enqueue_after_commit(task: Task[Any, Any], *args: Any, **kwargs: Any) -> None:
    """Enqueue `task` once the current transaction commits; never if it rolls back.

    Outside a transaction the task is enqueued at once. The task must be idempotent: a worker
    that dies in the middle runs it again after a restart.
    """
    transaction.on_commit(functools.partial(task.enqueue, *args, **kwargs))


@dataclass(frozen=True)
class PeriodicJobDefinition:
    """A job in code: the task the worker enqueues, every `every`."""

    name: str
    task: Task[[], Any]
    every: timedelta


_periodic_jobs: dict[str, PeriodicJobDefinition] = {}


def register_periodic_job(name: str, task: Task[[], Any], *, every: timedelta) -> None:
    """Declare a job the worker enqueues every `every` (apps call this in AppConfig.ready).

    The task takes no arguments and is idempotent: a job due while no worker ran is enqueued
    once when a worker starts, not once per missed interval.
    """
    if every < timedelta(seconds=1):
        raise ValueError(f"Periodic job {name}: the interval must be at least one second.")
    _periodic_jobs[name] = PeriodicJobDefinition(name=name, task=task, every=every)


def periodic_job_definitions() -> list[PeriodicJobDefinition]:
    """Return the periodic jobs declared in code, by name."""
    return sorted(_periodic_jobs.values(), key=lambda job: job.name)


def periodic_jobs_sync(*, now: datetime | None = None) -> None:
    """Give every declared job its row (due at once when new); follow a changed interval."""
    now = now or utc_now()
    for definition in periodic_job_definitions():
        seconds = int(definition.every.total_seconds())
        job, created = PeriodicJob.objects.get_or_create(
            name=definition.name, defaults={"interval_seconds": seconds, "next_run_at": now}
        )
        if not created and job.interval_seconds != seconds:
            job.interval_seconds = seconds
            # A shorter interval takes effect now rather than after the old, longer wait.
            job.next_run_at = min(job.next_run_at, now + definition.every)
            job.save(update_fields=["interval_seconds", "next_run_at"])


def periodic_jobs_enqueue_due(*, now: datetime | None = None) -> list[str]:
    """Enqueue every declared job that is due; return their names.

    The job's row is locked, its task enqueued and its next run moved forward in one
    transaction (the task is a row of the same database): a worker killed at any point has
    either done all three or none, so a job is neither lost nor enqueued twice.
    """
    now = now or utc_now()
    enqueued = []
    for definition in periodic_job_definitions():
        with transaction.atomic():
            job = (
                PeriodicJob.objects.select_for_update()
                .filter(name=definition.name, next_run_at__lte=now)
                .first()
            )
            if job is None:
                continue
            result: TaskResult[Any] = definition.task.enqueue()
            job.last_run_at = now
            job.next_run_at = now + timedelta(seconds=job.interval_seconds)
            job.last_task_id = str(result.id)
            job.save(update_fields=["last_run_at", "next_run_at", "last_task_id"])
        enqueued.append(definition.name)
    return enqueued


def worker_register(*, worker_id: str) -> WorkerProcess:
    """Record a worker starting on this host."""
    now = utc_now()
    process, _created = WorkerProcess.objects.update_or_create(
        worker_id=worker_id,
        defaults={
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started_at": now,
            "last_seen_at": now,
            "stopped_at": None,
        },
    )
    return process


def worker_seen(*, worker_id: str) -> None:
    """Record that the worker is alive now."""
    WorkerProcess.objects.filter(worker_id=worker_id).update(last_seen_at=utc_now())


def worker_stopped(*, worker_id: str) -> None:
    """Record that the worker stopped on its own."""
    now = utc_now()
    WorkerProcess.objects.filter(worker_id=worker_id).update(last_seen_at=now, stopped_at=now)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # somebody else's process: it exists
        return True
    return True


def worker_gone(process: WorkerProcess | None, *, now: datetime | None = None) -> bool:
    """Return whether a worker is gone: unknown, stopped, silent too long, or (on this host)
    no longer a process."""
    if process is None or process.stopped_at is not None:
        return True
    now = now or utc_now()
    if process.last_seen_at < now - HEARTBEAT_TIMEOUT:
        return True
    if process.host == socket.gethostname():
        # The same number as this process: the old worker's number was given to us (a restarted
        # container often starts the worker with the same pid).
        return process.pid == os.getpid() or not _process_exists(process.pid)
    return False


def tasks_requeue_abandoned(*, current_worker_id: str = "", everything: bool = False) -> list[str]:
    """Put back in the queue the tasks marked running whose worker is gone (every running task
    with `everything`, when the operator knows no worker runs); return their ids.

    The task runs again from its start: tasks are idempotent, and what the interrupted run
    wrote in its own transaction was rolled back with the dead process.
    """
    requeued = []
    now = utc_now()
    for result in DBTaskResult.objects.running().order_by():
        last_worker = result.worker_ids[-1] if result.worker_ids else ""
        if last_worker == current_worker_id and not everything:
            continue
        process = WorkerProcess.objects.filter(worker_id=last_worker).first()
        if not everything and not worker_gone(process, now=now):
            continue
        # Only if still running: its worker may have finished it since it was read.
        if task_requeue(result.pk):
            requeued.append(str(result.pk))
    return requeued


def task_requeue(result_id: Any) -> bool:
    """Put a running task back in the queue; return whether it was still running."""
    changed = DBTaskResult.objects.filter(pk=result_id, status=TaskResultStatus.RUNNING).update(
        status=TaskResultStatus.READY, started_at=None
    )
    return bool(changed)
