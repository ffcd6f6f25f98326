"""What the worker keeps besides the task rows of django-tasks-db: periodic jobs and workers."""

from __future__ import annotations

from django.db import models


class PeriodicJob(models.Model):
    """A job the worker enqueues every `interval_seconds`: when it is next due and last ran.

    The job's definition (its task and interval) is in code (`register_periodic_job`); this row
    holds only its clock, so a restart neither forgets a due job nor enqueues it twice.
    """

    name = models.CharField(max_length=100, unique=True)
    interval_seconds = models.PositiveIntegerField()
    next_run_at = models.DateTimeField()
    last_run_at = models.DateTimeField(null=True, blank=True)
    # The task enqueued at the last run (django-tasks-db's result id).
    last_task_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class WorkerProcess(models.Model):
    """A `carnet worker` process: where it runs and when it last showed it was alive.

    A task still marked running whose worker is gone (stopped, silent for too long, or no
    longer a process on this host) was interrupted: the next worker to start puts it back in
    the queue.
    """

    worker_id = models.CharField(max_length=64, unique=True)
    host = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.worker_id} (pid {self.pid} on {self.host})"
