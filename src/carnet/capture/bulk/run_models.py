"""An import asked for on the page: its files until the worker reads them, how far it is, and
what it found."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ImportStatus(models.TextChoices):
    QUEUED = "queued", "queued"
    RUNNING = "running", "running"
    DONE = "done", "done"  # a dry run checked, or an import written
    REFUSED = "refused", "refused"  # problems found: nothing was written
    FAILED = "failed", "failed"


class ImportRun(models.Model):
    """One import (or dry run) of CSV files, run by the worker.

    A page request has a minute before it is stopped; an import of a large export takes longer.
    The files wait in ``ImportRunFile`` rows until the worker reads them, and are deleted once
    the run ends: the values are then in the study's tables, or nowhere. ``problems`` keeps the
    first `PROBLEMS_KEPT` problems the run found (``problems_total`` counts them all)."""

    study = models.ForeignKey("studies.Study", on_delete=models.PROTECT, related_name="+")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.CharField(max_length=500, blank=True)
    dry_run = models.BooleanField(default=True)
    # The page's language when asked: the worker tells the problems in it.
    language = models.CharField(max_length=8, blank=True)
    status = models.CharField(
        max_length=10, choices=ImportStatus.choices, default=ImportStatus.QUEUED
    )
    files_named = models.CharField(max_length=1000, blank=True)
    outcome = models.JSONField(default=dict)
    problems = models.JSONField(default=list)
    problems_total = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["study", "requested_by", "-created_at"], name="import_run_mine_idx"
            )
        ]

    def __str__(self) -> str:
        return f"import into {self.study} ({self.status})"


class ImportRunFile(models.Model):
    """One CSV file of a queued import, as uploaded."""

    run = models.ForeignKey(ImportRun, on_delete=models.CASCADE, related_name="files")
    position = models.PositiveSmallIntegerField()
    name = models.CharField(max_length=255)
    content = models.BinaryField()

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["run", "position"], name="import_run_file_unique")
        ]

    def __str__(self) -> str:
        return self.name
