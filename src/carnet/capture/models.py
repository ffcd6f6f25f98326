"""Captured data: one form instance per subject, event occurrence, form and repeat; one row per
item value (and repeat row), as ODM's ItemData. Rows are never deleted: a removed repeat row is
marked removed, and every change is an audit event of the study's chain."""

from __future__ import annotations

from django.db import models

# Subjects carry the environment too: one definition, in the lower part (re-exported here).
from carnet.subjects.environments import Environment as Environment


class FormStatus(models.TextChoices):
    NOT_STARTED = "not_started", "not started"
    IN_PROGRESS = "in_progress", "in progress"
    COMPLETE = "complete", "complete"
    NOT_DONE = "not_done", "not done"


class FormInstance(models.Model):
    subject = models.ForeignKey("subjects.Subject", on_delete=models.PROTECT, related_name="forms")
    environment = models.CharField(max_length=10, choices=Environment.choices)
    event = models.CharField(max_length=64)
    occurrence = models.PositiveIntegerField(default=1)
    form = models.CharField(max_length=64)
    repeat = models.PositiveIntegerField(default=1, help_text="Instance of a repeating form.")
    status = models.CharField(
        max_length=12, choices=FormStatus.choices, default=FormStatus.NOT_STARTED
    )
    not_done_reason = models.CharField(max_length=64, blank=True)
    # Increases with every save: a save based on an older version is refused as stale.
    version = models.PositiveIntegerField(default=0)
    study_version = models.ForeignKey(
        "studies.StudyVersion", on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["subject", "environment", "event", "occurrence", "form", "repeat"],
                name="form_instance_unique",
            )
        ]
        indexes = [
            # The data manager's workspace counts forms per site by status and data review
            # from this index alone (subject, status, version), never from the table's rows.
            models.Index(fields=["subject", "status", "version"], name="form_instance_status_idx"),
            # Its list of forms changed since the data review, the most recent first, walks
            # this index from the end and stops at the page's rows (no sort of every form).
            models.Index(fields=["updated_at"], name="form_instance_updated_idx"),
        ]
        ordering = ["subject", "event", "occurrence", "form", "repeat"]

    def __str__(self) -> str:
        return f"{self.subject} {self.event}#{self.occurrence} {self.form}#{self.repeat}"


class ItemValue(models.Model):
    """The current value of one item (in one row of a repeating group) of a form instance."""

    form_instance = models.ForeignKey(FormInstance, on_delete=models.PROTECT, related_name="values")
    item = models.CharField(max_length=32)
    item_oid = models.CharField(max_length=64)
    group = models.CharField(max_length=32)
    row = models.PositiveIntegerField(
        default=0, help_text="Repeat key; 0 outside repeating groups."
    )
    text = models.TextField(blank=True, help_text="Canonical text of the value.")
    number = models.DecimalField(max_digits=30, decimal_places=10, null=True, blank=True)
    day = models.DateField(null=True, blank=True)
    missing_code = models.CharField(max_length=8, blank=True)
    removed = models.BooleanField(default=False, help_text="The repeat row was removed.")
    hidden = models.BooleanField(default=False, help_text="Kept although branching hides it.")
    # The form version at which this value last changed, to explain a stale-save conflict.
    changed_in = models.PositiveIntegerField(default=0)
    study_version = models.ForeignKey(
        "studies.StudyVersion", on_delete=models.PROTECT, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.CharField(max_length=200)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["form_instance", "item", "row"], name="item_value_unique"
            )
        ]
        indexes = [models.Index(fields=["item_oid"], name="item_value_oid_idx")]
        ordering = ["form_instance", "group", "row", "id"]

    def __str__(self) -> str:
        return f"{self.item}[{self.row}] = {self.text or self.missing_code}"


class CheckResult(models.Model):
    """A soft edit check that fired: shown on the form, later turned into a query."""

    form_instance = models.ForeignKey(FormInstance, on_delete=models.PROTECT, related_name="checks")
    check_name = models.CharField(max_length=64)
    row = models.PositiveIntegerField(default=0)
    message_en = models.TextField()
    message_fr = models.TextField()
    items = models.JSONField(default=list)
    open = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["form_instance", "check_name"]

    def __str__(self) -> str:
        return f"{self.check_name} on {self.form_instance}"


class StoredFile(models.Model):
    """An uploaded document (file item), kept under the data directory by its SHA-256."""

    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField()
    content_type = models.CharField(max_length=100)
    original_name = models.CharField(max_length=200)
    study = models.ForeignKey("studies.Study", on_delete=models.PROTECT, related_name="+")
    uploaded_by = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["study", "sha256"], name="stored_file_unique")
        ]

    def __str__(self) -> str:
        return f"{self.original_name} ({self.sha256[:12]}…)"


class ImportSettings(models.Model):
    """A study's options for the bulk import (the defaults, unsaved, until someone sets them)."""

    study = models.OneToOneField(
        "studies.Study", on_delete=models.PROTECT, related_name="import_settings"
    )
    # An import may register the subjects its files name and the study does not know yet (a
    # migration from another system), at the site its `site` column gives; off, it refuses them.
    creates_subjects = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"import settings of {self.study}"


from carnet.capture.bulk.run_models import ImportRun, ImportRunFile  # noqa: E402, F401 (imports)
