"""Named data cut-offs: a point in a study's audit chain from which exports are rebuilt."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Cutoff(models.Model):
    """A named point of a study's audit chain (sequence number and the head's hash there).

    Every export names the cut-off it was made from; the values are those the audit events up
    to ``seq`` give (today's values with later changes undone from their events), so the same
    export made later from the same cut-off is the same file.
    """

    study = models.ForeignKey("studies.Study", on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=64)
    seq = models.PositiveBigIntegerField(help_text="Last audit event of the study's chain kept.")
    head_hash = models.CharField(max_length=64, help_text="Hash of that event (the chain head).")
    cut_on = models.DateField(help_text="The data cut-off date the protocol names.")
    reason = models.TextField()
    created_by = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["study", "name"], name="cutoff_study_name_unique")
        ]
        ordering = ["study", "seq", "name"]

    def __str__(self) -> str:
        return f"{self.name} (#{self.seq})"


class ExportStatus(models.TextChoices):
    QUEUED = "queued", "queued"
    RUNNING = "running", "running"
    DONE = "done", "done"
    FAILED = "failed", "failed"


class ExportRun(models.Model):
    """One export asked for on the page or the API, made by the worker.

    ``done`` of ``total`` datasets is its progress; once done, the zip is under the data
    directory (``exports/``) for the person who asked, and only for them: it carries their
    blinding and their sites. The export itself is in the study's audit chain (`export.made`)."""

    study = models.ForeignKey("studies.Study", on_delete=models.PROTECT, related_name="+")
    cutoff = models.ForeignKey(Cutoff, on_delete=models.PROTECT, related_name="runs")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    options = models.JSONField(default=dict)
    status = models.CharField(
        max_length=10, choices=ExportStatus.choices, default=ExportStatus.QUEUED
    )
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    manifest_sha256 = models.CharField(max_length=64, blank=True)
    size = models.PositiveBigIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"export {self.pk} of {self.study} ({self.status})"

    @property
    def percent(self) -> int:
        """Return how far the export is, 0 to 100."""
        if self.status == ExportStatus.DONE:
            return 100
        return 100 * self.done // self.total if self.total else 0

    @property
    def finished(self) -> bool:
        return self.status in (ExportStatus.DONE, ExportStatus.FAILED)

    @property
    def file_name(self) -> str:
        """Return the name the zip is downloaded under."""
        study = self.options.get("study", "export")
        return f"{study}-{self.cutoff.name}-{self.options.get('file_format', 'csv')}.zip"


from carnet.interop.documents_models import ArchiveStatus, CasebookArchive  # noqa: E402, F401 (casebook archives)
