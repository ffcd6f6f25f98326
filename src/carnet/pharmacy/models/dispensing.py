"""Dispensing, returns, destruction and resupply proposals.

Each row is what the pharmacist (or the sponsor's depot) did, and stays: a kit dispensed then
returned has one `Dispensing` and one `Return`. In hospital stock mode there is no kit: the
product and the quantity say what moved. Every row goes with a `StockMovement` and an audit
event written by the same service.
"""

from __future__ import annotations

from django.db import models

from carnet.subjects.environments import Environment


class Dispensing(models.Model):
    """A kit (or a quantity of a product) given for a subject's visit."""

    study = models.ForeignKey("studies.Study", on_delete=models.PROTECT, related_name="+")
    environment = models.CharField(max_length=10, choices=Environment.choices)
    site = models.ForeignKey("accounts.StudySite", on_delete=models.PROTECT, related_name="+")
    subject = models.ForeignKey("subjects.Subject", on_delete=models.PROTECT, related_name="+")
    kit = models.ForeignKey(
        "pharmacy.Kit", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    product = models.CharField(max_length=64)
    quantity = models.DecimalField(max_digits=12, decimal_places=3)
    event = models.CharField(max_length=64, blank=True)
    occurrence = models.PositiveIntegerField(null=True, blank=True)
    dispensed_on = models.DateField()
    # To whom the pharmacy handed it: the patient, a nurse of the day unit…
    dispensed_to = models.CharField(max_length=200)
    dispensed_by = models.CharField(max_length=200)
    recorded_at = models.DateTimeField()

    class Meta:
        ordering = ["study", "dispensed_on", "id"]

    def __str__(self) -> str:
        return f"dispensing {self.pk} of {self.kit_id or self.product}"


class Return(models.Model):
    """A kit brought back by the patient, or an unused quantity of a product."""

    study = models.ForeignKey("studies.Study", on_delete=models.PROTECT, related_name="+")
    environment = models.CharField(max_length=10, choices=Environment.choices)
    site = models.ForeignKey("accounts.StudySite", on_delete=models.PROTECT, related_name="+")
    subject = models.ForeignKey("subjects.Subject", on_delete=models.PROTECT, related_name="+")
    kit = models.ForeignKey(
        "pharmacy.Kit", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    product = models.CharField(max_length=64)
    # The unused quantity brought back (0: an empty kit box).
    quantity = models.DecimalField(max_digits=12, decimal_places=3)
    returned_on = models.DateField()
    note = models.TextField(blank=True)
    recorded_by = models.CharField(max_length=200)
    recorded_at = models.DateTimeField()

    class Meta:
        ordering = ["study", "returned_on", "id"]

    def __str__(self) -> str:
        return f"return {self.pk} of {self.kit_id or self.product}"


class Destruction(models.Model):
    """Kits (or a quantity) destroyed at a site, with a witness and the certificate's reference."""

    study = models.ForeignKey("studies.Study", on_delete=models.PROTECT, related_name="+")
    environment = models.CharField(max_length=10, choices=Environment.choices)
    site = models.ForeignKey("accounts.StudySite", on_delete=models.PROTECT, related_name="+")
    kit = models.ForeignKey(
        "pharmacy.Kit", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    product = models.CharField(max_length=64)
    quantity = models.DecimalField(max_digits=12, decimal_places=3)
    destroyed_on = models.DateField()
    witness = models.CharField(max_length=200)
    certificate = models.CharField(max_length=100)
    recorded_by = models.CharField(max_length=200)
    recorded_at = models.DateTimeField()

    class Meta:
        ordering = ["study", "destroyed_on", "id"]

    def __str__(self) -> str:
        return f"destruction {self.certificate}"


class ResupplyProposal(models.Model):
    """A proposal sent to the depot: the same number of kits of every content for one site, so
    the proposal never tells which arm the site's patients are on."""

    study = models.ForeignKey("studies.Study", on_delete=models.PROTECT, related_name="+")
    environment = models.CharField(max_length=10, choices=Environment.choices)
    site = models.ForeignKey("accounts.StudySite", on_delete=models.PROTECT, related_name="+")
    proposed_on = models.DateField()
    kits_per_content = models.PositiveIntegerField()
    contents = models.PositiveIntegerField()
    # What the site holds and needs, summed over contents (never per content: blinded readers).
    usable = models.PositiveIntegerField()
    predicted_visits = models.PositiveIntegerField()
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["study", "-proposed_on", "site"]
        constraints = [
            # One proposal a site a day: the worker's daily run and a manual one do not repeat it.
            models.UniqueConstraint(
                fields=["study", "environment", "site", "proposed_on"],
                name="pharmacy_resupply_daily",
            )
        ]

    def __str__(self) -> str:
        return f"resupply of {self.site_id} on {self.proposed_on}"
