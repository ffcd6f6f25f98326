"""Laboratory normal ranges of a study and how its items map to analytes.

Both come from one file per study (`carnet lab ranges load`), kept apart from the study
definition: laboratories change their ranges during a trial, the protocol does not.
"""

from __future__ import annotations

from django.db import models


class RangeSex(models.TextChoices):
    BOTH = "", "both"
    FEMALE = "F", "female"
    MALE = "M", "male"


class NormalRange(models.Model):
    """One laboratory's normal range of an analyte, for a sex and an age band, over a period.

    A range with no site holds at every site of the study that has none of its own."""

    study = models.ForeignKey("studies.Study", on_delete=models.PROTECT, related_name="+")
    site = models.ForeignKey(
        "accounts.StudySite", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    laboratory = models.CharField(max_length=100, blank=True)
    analyte = models.CharField(max_length=40)
    sex = models.CharField(max_length=1, choices=RangeSex.choices, blank=True)
    # Age in whole years at sampling: from age_min included to age_max excluded.
    age_min = models.PositiveSmallIntegerField(null=True, blank=True)
    age_max = models.PositiveSmallIntegerField(null=True, blank=True)
    effective_from = models.DateField()
    effective_to = models.DateField(null=True, blank=True, help_text="Last day included.")
    unit = models.CharField(max_length=20)
    low = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True)
    high = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True)
    line = models.PositiveIntegerField(default=0, help_text="Line of the file it came from.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["study", "analyte", "site", "sex", "age_min", "effective_from"]
        indexes = [models.Index(fields=["study", "analyte"], name="normal_range_analyte_idx")]

    def __str__(self) -> str:
        return f"{self.analyte} {self.low}-{self.high} {self.unit}"


class LabItem(models.Model):
    """An item of the study's CRF that holds a laboratory value of an analyte."""

    study = models.ForeignKey("studies.Study", on_delete=models.PROTECT, related_name="+")
    item = models.CharField(max_length=32)
    analyte = models.CharField(max_length=40)
    # The value's unit: fixed, or read from another item of the same form.
    unit = models.CharField(max_length=20, blank=True)
    unit_item = models.CharField(max_length=32, blank=True)
    # Limits the site entered on the form (the local laboratory's), used before the ranges.
    uln_item = models.CharField(max_length=32, blank=True)
    lln_item = models.CharField(max_length=32, blank=True)

    class Meta:
        ordering = ["study", "item"]
        constraints = [
            models.UniqueConstraint(fields=["study", "item"], name="lab_item_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.item} → {self.analyte}"


class LabSettings(models.Model):
    """Where a study's laboratory values find their date, the subject's age and the baseline."""

    study = models.OneToOneField("studies.Study", on_delete=models.PROTECT, related_name="+")
    date_item = models.CharField(max_length=32, blank=True)
    age_item = models.CharField(max_length=32, blank=True)
    baseline_event = models.CharField(max_length=64, blank=True)
    file_name = models.CharField(max_length=200, blank=True)
    file_sha256 = models.CharField(max_length=64, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"laboratory settings of {self.study_id}"
