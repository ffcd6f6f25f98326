"""Models of the reports app: the DSMB reports the worker makes."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ReportStatus(models.TextChoices):
    QUEUED = "queued", "queued"
    RUNNING = "running", "running"
    DONE = "done", "done"
    FAILED = "failed", "failed"


class ReportSession(models.TextChoices):
    OPEN = "open", "open"  # pooled: accrual, conduct, pooled safety
    CLOSED = "closed", "closed"  # by arm: efficacy with the SAP's boundaries, safety by arm


class ReportRun(models.Model):
    """One DSMB report (a PDF of a cut-off) asked for on the page, the API or the command, made
    by the worker. ``done`` of ``total`` steps is its progress; the PDF is kept under the data
    directory (``reports/``) for the person who asked, and only for them."""

    study = models.ForeignKey("studies.Study", on_delete=models.PROTECT, related_name="+")
    cutoff = models.ForeignKey("interop.Cutoff", on_delete=models.PROTECT, related_name="+")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    session = models.CharField(max_length=10, choices=ReportSession.choices)
    status = models.CharField(
        max_length=10, choices=ReportStatus.choices, default=ReportStatus.QUEUED
    )
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    step = models.CharField(max_length=100, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    size = models.PositiveBigIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"DSMB {self.session} report {self.pk} of {self.study} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status in (ReportStatus.DONE, ReportStatus.FAILED)

    @property
    def percent(self) -> int:
        """Return how far the report is, 0 to 100."""
        if self.status == ReportStatus.DONE:
            return 100
        return int(100 * self.done / self.total) if self.total else 0
