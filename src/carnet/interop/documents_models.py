"""A site's casebook archive being made by the worker: who asked, how far it is, where it is."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ArchiveStatus(models.TextChoices):
    QUEUED = "queued", "queued"
    RUNNING = "running", "running"
    DONE = "done", "done"
    FAILED = "failed", "failed"


class CasebookArchive(models.Model):
    """One zip of a site's casebooks (one PDF per subject and a manifest of SHA-256 hashes).

    ``subjects_done`` of ``subjects_total`` is its progress; once done, ``file_name`` is the zip
    under the data directory's ``archives/`` and ``sha256`` its hash. Handing the file out is
    an audit event of its own (`casebook_archive_download`)."""

    study = models.ForeignKey("studies.Study", on_delete=models.PROTECT, related_name="+")
    site = models.ForeignKey("accounts.StudySite", on_delete=models.PROTECT, related_name="+")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True
    )
    language = models.CharField(max_length=8, default="en")
    status = models.CharField(
        max_length=10, choices=ArchiveStatus.choices, default=ArchiveStatus.QUEUED
    )
    subjects_done = models.PositiveIntegerField(default=0)
    subjects_total = models.PositiveIntegerField(default=0)
    file_name = models.CharField(max_length=200, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"casebooks of {self.site} ({self.status})"

    @property
    def percent(self) -> int:
        """Return how far the archive is, 0 to 100."""
        if self.status == ArchiveStatus.DONE:
            return 100
        return 100 * self.subjects_done // self.subjects_total if self.subjects_total else 0
