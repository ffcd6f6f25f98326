"""What `carnet worker --status` shows: tasks queued, running and failed, periodic jobs, workers,
and the lines other apps add (the outbox)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django_tasks_db.models import DBTaskResult

from carnet.core.clock import utc_now
from carnet.worker.models import PeriodicJob, WorkerProcess
from carnet.worker.services import worker_gone

# Failed tasks older than this are no longer listed (they stay in the table until pruned).
FAILED_SHOWN_FOR = timedelta(days=7)
FAILED_SHOWN = 20


@dataclass(frozen=True)
class TaskLine:
    id: str
    name: str
    at: datetime | None  # running: started; queued: due; failed: finished
    worker: str = ""
    error: str = ""


@dataclass(frozen=True)
class WorkerLine:
    worker_id: str
    host: str
    pid: int
    last_seen_at: datetime
    alive: bool


@dataclass
class WorkerStatus:
    queued: int
    queued_due: int
    running: list[TaskLine]
    failed: list[TaskLine]
    failed_count: int
    jobs: list[PeriodicJob]
    workers: list[WorkerLine]
    others: list[str] = field(default_factory=list)


_status_sources: list[Callable[[], list[str]]] = []


def register_status_source(source: Callable[[], list[str]]) -> None:
    """Add lines to `carnet worker --status` (the outbox says what waits to be sent)."""
    if source not in _status_sources:
        _status_sources.append(source)


def _last_error(result: DBTaskResult) -> str:
    lines = [line for line in result.traceback.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else result.exception_class_path


def worker_status(*, now: datetime | None = None) -> WorkerStatus:
    """Return the state of the background work now."""
    now = now or utc_now()
    ready = DBTaskResult.objects.filter(status="READY")
    running = [
        TaskLine(
            id=str(result.pk),
            name=result.task_path,
            at=result.started_at,
            worker=result.worker_ids[-1] if result.worker_ids else "",
        )
        for result in DBTaskResult.objects.running().order_by("started_at")
    ]
    failed_recent = DBTaskResult.objects.failed().filter(finished_at__gte=now - FAILED_SHOWN_FOR)
    failed = [
        TaskLine(
            id=str(result.pk),
            name=result.task_path,
            at=result.finished_at,
            error=_last_error(result),
        )
        for result in failed_recent.order_by("-finished_at")[:FAILED_SHOWN]
    ]
    workers = [
        WorkerLine(
            worker_id=process.worker_id,
            host=process.host,
            pid=process.pid,
            last_seen_at=process.last_seen_at,
            alive=not worker_gone(process, now=now),
        )
        for process in WorkerProcess.objects.filter(stopped_at__isnull=True)
    ]
    others = [line for source in _status_sources for line in source()]
    return WorkerStatus(
        queued=ready.count(),
        queued_due=DBTaskResult.objects.ready().count(),
        running=running,
        failed=failed,
        failed_count=failed_recent.count(),
        jobs=list(PeriodicJob.objects.all()),
        workers=workers,
        others=others,
    )
