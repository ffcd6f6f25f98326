"""Monitoring: a study's monitoring plan (which data the monitors verify against the source),
the source data verification (SDV) of each item value, and the monitoring visits at a site.

An SDV names one item value of one form instance. A change of that value resets it (capture's
save listener): the row keeps who verified and when, and says when and why it was reset, so
the casebook shows "verified", "reset" or nothing, and the trail keeps both events.
"""

from __future__ import annotations

from django.db import models


class PlanRule(models.TextChoices):
    ALL = "all", "all"  # every item value entered
    CRITICAL = "critical", "critical"  # the items the study flags sdv_critical
    FIRST_PATIENTS = (
        "first_patients",
        "first_patients",
    )  # all for the first N per site, then critical
    RANDOM_SHARE = "random_share", "random_share"  # all for a drawn share per site, then critical


class MonitoringPlan(models.Model):
    """What a study's monitors must verify (one row per study; without one, every item)."""

    study = models.OneToOneField("studies.Study", on_delete=models.PROTECT, related_name="+")
    rule = models.CharField(max_length=20, choices=PlanRule.choices, default=PlanRule.ALL)
    first_patients = models.PositiveIntegerField(default=3)
    share_percent = models.PositiveIntegerField(default=20)
    # Drawing again with the same seed draws the same patients: the selection is reproducible.
    seed = models.CharField(max_length=64, default="carnet")
    updated_by = models.CharField(max_length=200)
    updated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"monitoring plan of {self.study_id}: {self.rule}"


class MonitoringVisit(models.Model):
    """A monitor's visit to a site: date, subjects reviewed, findings and follow-up actions.

    While open, the SDV its monitor does at its site is linked to it; closing it fixes its
    report (HTML and PDF)."""

    study = models.ForeignKey("studies.Study", on_delete=models.PROTECT, related_name="+")
    site = models.ForeignKey("accounts.StudySite", on_delete=models.PROTECT, related_name="+")
    monitor = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    monitor_name = models.CharField(max_length=200)
    visit_date = models.DateField()
    subjects = models.ManyToManyField("subjects.Subject", blank=True, related_name="+")
    findings = models.TextField(blank=True)
    follow_up = models.TextField(blank=True)
    created_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-visit_date", "-id"]
        indexes = [models.Index(fields=["study", "site"], name="monitoring_visit_site_idx")]

    def __str__(self) -> str:
        return f"monitoring visit #{self.pk} at {self.site_id} on {self.visit_date}"

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


class SourceVerification(models.Model):
    """A monitor's verification of one item value against the source; reset by a change."""

    study = models.ForeignKey("studies.Study", on_delete=models.PROTECT, related_name="+")
    site = models.ForeignKey("accounts.StudySite", on_delete=models.PROTECT, related_name="+")
    subject = models.ForeignKey("subjects.Subject", on_delete=models.PROTECT, related_name="+")
    form_instance = models.ForeignKey(
        "capture.FormInstance", on_delete=models.PROTECT, related_name="+"
    )
    item_value = models.ForeignKey("capture.ItemValue", on_delete=models.PROTECT, related_name="+")
    item = models.CharField(max_length=32)
    row = models.PositiveIntegerField(default=0)
    verified_by = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    verified_by_name = models.CharField(max_length=200)
    verified_at = models.DateTimeField()
    visit = models.ForeignKey(
        MonitoringVisit,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="verifications",
    )
    reset_at = models.DateTimeField(null=True, blank=True)
    reset_by = models.CharField(max_length=200, blank=True)
    reset_reason = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["item_value"],
                condition=models.Q(reset_at__isnull=True),
                name="sdv_one_in_force_per_value",
            )
        ]
        indexes = [
            models.Index(fields=["study", "reset_at"], name="sdv_study_idx"),
            models.Index(fields=["form_instance", "reset_at"], name="sdv_form_idx"),
            models.Index(fields=["subject", "reset_at"], name="sdv_subject_idx"),
        ]
        ordering = ["form_instance", "item", "row", "-verified_at"]

    def __str__(self) -> str:
        return f"SDV of {self.item}[{self.row}] by {self.verified_by_name}"

    @property
    def in_force(self) -> bool:
        return self.reset_at is None
