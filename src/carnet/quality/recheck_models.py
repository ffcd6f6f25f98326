"""A whole-study re-check run: who asked, how far it is, and what it found per rule."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class RecheckStatus(models.TextChoices):
    QUEUED = "queued", "queued"
    RUNNING = "running", "running"
    DONE = "done", "done"
    FAILED = "failed", "failed"


class RecheckRun(models.Model):
    """One re-check of every soft edit check over a whole study, run by the worker.

    ``forms_done`` of ``forms_total`` is its progress (forms of the study evaluated); the
    ``outcome`` holds the counts per rule once it is done. The check results it opened and
    closed are in the capture tables, and the run itself in the study's audit chain."""

    study = models.ForeignKey("studies.Study", on_delete=models.PROTECT, related_name="+")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True
    )
    reason = models.CharField(max_length=500, blank=True)
    status = models.CharField(
        max_length=10, choices=RecheckStatus.choices, default=RecheckStatus.QUEUED
    )
    forms_done = models.PositiveIntegerField(default=0)
    forms_total = models.PositiveIntegerField(default=0)
    outcome = models.JSONField(default=dict)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"re-check of {self.study} ({self.status})"

    @property
    def percent(self) -> int:
        """Return how far the run is, 0 to 100."""
        if self.status == RecheckStatus.DONE:
            return 100
        return 100 * self.forms_done // self.forms_total if self.forms_total else 0
