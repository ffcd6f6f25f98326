"""The worker's own periodic job: forget finished tasks and stopped workers after a while."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q
from django_tasks import task
from django_tasks_db.models import DBTaskResult

from carnet.core.clock import utc_now
from carnet.worker.models import WorkerProcess
from carnet.worker.services import HEARTBEAT_TIMEOUT, register_periodic_job

# Successful tasks are kept a month (what ran, when, on which worker); failed ones a quarter,
# long enough to be read after a holiday.
KEEP_SUCCESSFUL = timedelta(days=30)
KEEP_FAILED = timedelta(days=90)


@task()
def task_results_prune() -> int:
    """Delete the finished tasks and the stopped workers past their keeping time; return how
    many rows went."""
    now = utc_now()
    deleted, _ = DBTaskResult.objects.filter(
        Q(status="SUCCESSFUL", finished_at__lt=now - KEEP_SUCCESSFUL)
        | Q(status="FAILED", finished_at__lt=now - KEEP_FAILED)
    ).delete()
    workers, _ = WorkerProcess.objects.filter(
        last_seen_at__lt=now - max(KEEP_SUCCESSFUL, HEARTBEAT_TIMEOUT)
    ).delete()
    return deleted + workers


def register() -> None:
    register_periodic_job("task-results-prune", task_results_prune, every=timedelta(days=1))
