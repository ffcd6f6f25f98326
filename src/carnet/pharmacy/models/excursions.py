"""Temperature excursions: a site reports that kits (or a shipment's kits) left their storage
conditions; the kits are quarantined until the sponsor decides, kit by kit or all at once,
whether they are usable (back to the site's available stock) or destroyed, with a reason."""

from __future__ import annotations

from django.db import models

from carnet.subjects.environments import Environment


class ExcursionStatus(models.TextChoices):
    OPEN = "open", "open"  # some of its kits wait for the sponsor's decision
    DECIDED = "decided", "decided"  # every kit has its decision


class Excursion(models.Model):
    """One temperature excursion reported at a site's pharmacy (or at a shipment's receipt)."""

    study = models.ForeignKey("studies.Study", on_delete=models.PROTECT, related_name="+")
    environment = models.CharField(max_length=10, choices=Environment.choices)
    site = models.ForeignKey("accounts.StudySite", on_delete=models.PROTECT, related_name="+")
    shipment = models.ForeignKey(
        "pharmacy.Shipment",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="excursions",
    )
    # What the logger or the fridge's thermometer showed: the range reached and for how long.
    minimum_temperature = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    maximum_temperature = models.DecimalField(max_digits=5, decimal_places=1, null=True, blank=True)
    duration_minutes = models.PositiveIntegerField(null=True, blank=True)
    description = models.TextField()
    status = models.CharField(
        max_length=8, choices=ExcursionStatus.choices, default=ExcursionStatus.OPEN
    )
    reported_at = models.DateTimeField()
    reported_by = models.CharField(max_length=200)

    class Meta:
        ordering = ["study", "-reported_at", "-id"]
        indexes = [models.Index(fields=["study", "status"], name="pharmacy_excursion_open")]

    def __str__(self) -> str:
        return f"excursion {self.pk}"


class ExcursionDecision(models.TextChoices):
    USABLE = "usable", "usable"
    DESTROYED = "destroyed", "destroyed"


class ExcursionKit(models.Model):
    """A kit an excursion quarantined, and the sponsor's decision about it (empty: waiting)."""

    excursion = models.ForeignKey(Excursion, on_delete=models.PROTECT, related_name="kits")
    kit = models.ForeignKey("pharmacy.Kit", on_delete=models.PROTECT, related_name="excursions")
    decision = models.CharField(max_length=10, choices=ExcursionDecision.choices, blank=True)
    reason = models.TextField(blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["excursion", "kit__number"]
        constraints = [
            models.UniqueConstraint(fields=["excursion", "kit"], name="pharmacy_excursion_kit")
        ]

    def __str__(self) -> str:
        return f"{self.kit_id} in excursion {self.excursion_id}"
