"""Protocol deviations: the register of one study, derived from checks or declared by people."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class DeviationClass(models.TextChoices):
    MAJOR = "major", _("major")
    MINOR = "minor", _("minor")


class DeviationOrigin(models.TextChoices):
    # A soft check of the study marked `deviation: true` fired for the subject.
    DERIVED = "derived", _("derived from a check")
    DECLARED = "declared", _("declared")


class DeviationStatus(models.TextChoices):
    """Where the data manager's review stands."""

    PENDING = "pending", _("awaiting review")
    CONFIRMED = "confirmed", _("confirmed")
    REJECTED = "rejected", _("rejected")


class Deviation(models.Model):
    """One protocol deviation of one subject.

    A derived deviation is never deleted: when its check clears it is marked resolved (the
    deviation happened; the data were corrected or explained). Only a confirmed major deviation
    takes the subject out of the per-protocol population.
    """

    study = models.ForeignKey("studies.Study", on_delete=models.PROTECT, related_name="+")
    subject = models.ForeignKey(
        "subjects.Subject", on_delete=models.PROTECT, related_name="deviations"
    )
    origin = models.CharField(max_length=10, choices=DeviationOrigin.choices)
    # Derived deviations: the form and the check (by name: one deviation per form and check,
    # whichever of its results fired) and the result that fired last.
    form_instance = models.ForeignKey(
        "capture.FormInstance", on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    check_name = models.CharField(max_length=64, blank=True)
    check_result = models.ForeignKey(
        "capture.CheckResult", on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    description = models.TextField()
    description_fr = models.TextField(blank=True)  # derived: the check's French message
    occurred_on = models.DateField()
    deviation_class = models.CharField(max_length=5, choices=DeviationClass.choices)
    category = models.CharField(max_length=32)
    status = models.CharField(
        max_length=10, choices=DeviationStatus.choices, default=DeviationStatus.PENDING
    )
    resolved = models.BooleanField(default=False)
    resolved_at = models.DateTimeField(null=True, blank=True)
    declared_by = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    reviewed_by = models.CharField(max_length=200, blank=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_reason = models.TextField(blank=True)

    class Meta:
        constraints = [
            # A check records one deviation per form instance, however often it fires.
            models.UniqueConstraint(
                fields=["form_instance", "check_name"],
                condition=Q(origin="derived"),
                name="deviation_derived_once",
            )
        ]
        indexes = [
            # The register's order, and the per-protocol population's confirmed majors.
            models.Index(fields=["study", "-occurred_on", "-id"], name="deviation_register"),
            models.Index(
                fields=["subject", "deviation_class", "status"], name="deviation_of_subject"
            ),
        ]
        ordering = ["study", "-occurred_on", "-pk"]

    def __str__(self) -> str:
        return f"Deviation {self.pk} of {self.subject_id} ({self.deviation_class})"
