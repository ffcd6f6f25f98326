"""Batches, kits, shipments and the stock ledger.

A kit's content (the arm, or the treatment code of the study's YAML) is arm-revealing: only
unblinded roles and the server's commands read it; every page, answer and export goes through
the blinding policy. A kit is never deleted: its status moves along its life and each move is
a `StockMovement` row (who, when, why) beside an audit event.
"""

from __future__ import annotations

from django.db import models

from carnet.subjects.environments import Environment


class Batch(models.Model):
    """A manufacturer's batch of one product of the study (the product code is the YAML's)."""

    study = models.ForeignKey("studies.Study", on_delete=models.PROTECT, related_name="+")
    environment = models.CharField(max_length=10, choices=Environment.choices)
    product = models.CharField(max_length=64)
    number = models.CharField(max_length=64)
    expiry = models.DateField()
    # The qualified person's release: a batch without one is never shipped nor assigned.
    released_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["study", "product", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["study", "environment", "product", "number"], name="pharmacy_batch_unique"
            )
        ]

    def __str__(self) -> str:
        return f"batch {self.number} of {self.product}"


class KitStatus(models.TextChoices):
    AT_DEPOT = "at_depot", "at_depot"  # at the sponsor's depot, not yet shipped
    IN_TRANSIT = "in_transit", "in_transit"  # in a shipment that is sent, not received
    AVAILABLE = "available", "available"  # received at the site's pharmacy, usable
    QUARANTINED = "quarantined", "quarantined"  # a temperature excursion waits for a decision
    ASSIGNED = "assigned", "assigned"  # assigned to a patient, not yet dispensed
    DISPENSED = "dispensed", "dispensed"  # given to the patient
    RETURNED = "returned", "returned"  # brought back by the patient (quantities in the ledger)
    DAMAGED = "damaged", "damaged"  # received damaged, or damaged at the site
    MISSING = "missing", "missing"  # expected in a shipment, not received
    EXPIRED = "expired", "expired"  # past its expiry, set aside
    DESTROYED = "destroyed", "destroyed"  # destroyed with a witness and a certificate


class Kit(models.Model):
    """A numbered kit packaged by the manufacturer: its batch, its concealed content, where it
    is and what became of it. The number is what the pharmacist and the site see."""

    study = models.ForeignKey("studies.Study", on_delete=models.PROTECT, related_name="+")
    environment = models.CharField(max_length=10, choices=Environment.choices)
    number = models.CharField(max_length=40)
    batch = models.ForeignKey(Batch, on_delete=models.PROTECT, related_name="kits")
    # The arm (or treatment code) it holds: arm-revealing, read through the blinding policy only.
    content = models.CharField(max_length=64)
    # Units in the kit (tablets, vials…, in the product's dosing unit).
    quantity = models.DecimalField(max_digits=12, decimal_places=3, default=1)
    # The kit's own expiry: the batch's, unless the kit was relabelled after an extension.
    expiry = models.DateField()
    status = models.CharField(max_length=12, choices=KitStatus.choices, default=KitStatus.AT_DEPOT)
    # Where the kit is (None: at the depot).
    site = models.ForeignKey(
        "accounts.StudySite", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    shipment = models.ForeignKey(
        "pharmacy.Shipment", null=True, blank=True, on_delete=models.PROTECT, related_name="kits"
    )
    # Whom it was assigned to, at which visit (event code and occurrence of the schedule).
    subject = models.ForeignKey(
        "subjects.Subject", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    event = models.CharField(max_length=64, blank=True)
    occurrence = models.PositiveIntegerField(null=True, blank=True)
    assigned_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["study", "environment", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["study", "environment", "number"], name="pharmacy_kit_unique"
            )
        ]
        indexes = [
            # Assignment: the site's usable kits of one content, the soonest expiry first.
            models.Index(
                fields=["study", "environment", "site", "status", "content", "expiry"],
                name="pharmacy_kit_stock",
            )
        ]

    def __str__(self) -> str:
        return f"kit {self.number}"


class ShipmentStatus(models.TextChoices):
    PREPARED = "prepared", "prepared"
    SENT = "sent", "sent"  # left the depot: its kits are in transit
    RECEIVED = "received", "received"  # the pharmacist confirmed receipt, kit by kit


class Shipment(models.Model):
    """Kits sent from the depot to a site's pharmacy."""

    study = models.ForeignKey("studies.Study", on_delete=models.PROTECT, related_name="+")
    environment = models.CharField(max_length=10, choices=Environment.choices)
    number = models.CharField(max_length=40)
    site = models.ForeignKey("accounts.StudySite", on_delete=models.PROTECT, related_name="+")
    status = models.CharField(
        max_length=10, choices=ShipmentStatus.choices, default=ShipmentStatus.PREPARED
    )
    created_at = models.DateTimeField()
    created_by = models.CharField(max_length=200)
    sent_at = models.DateTimeField(null=True, blank=True)
    sent_by = models.CharField(max_length=200, blank=True)
    received_at = models.DateTimeField(null=True, blank=True)
    received_by = models.CharField(max_length=200, blank=True)
    # The temperature record that travelled with it (logger reading, min/max), as received.
    temperature_record = models.TextField(blank=True)
    temperature_ok = models.BooleanField(null=True)

    class Meta:
        ordering = ["study", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["study", "environment", "number"], name="pharmacy_shipment_unique"
            )
        ]

    def __str__(self) -> str:
        return f"shipment {self.number}"


class StockMovement(models.Model):
    """One line of the stock ledger: a kit (kit mode) or a quantity of a product (hospital
    stock) moving, with who, when and why. Accountability is computed from these rows."""

    class Kind(models.TextChoices):
        CREATED = "created", "created"  # imported from the manufacturer's list, or generated
        SHIPPED = "shipped", "shipped"
        RECEIVED = "received", "received"
        MISSING = "missing", "missing"
        DAMAGED = "damaged", "damaged"
        QUARANTINED = "quarantined", "quarantined"
        RELEASED = "released", "released"  # a quarantine ended: usable again
        RELABELLED = "relabelled", "relabelled"  # a new expiry after an extension
        ASSIGNED = "assigned", "assigned"
        REPLACED = "replaced", "replaced"  # an assigned kit replaced by another, with a reason
        DISPENSED = "dispensed", "dispensed"
        RETURNED = "returned", "returned"
        DESTROYED = "destroyed", "destroyed"
        EXPIRED = "expired", "expired"
        ADJUSTED = "adjusted", "adjusted"  # hospital stock: a counted correction

    study = models.ForeignKey("studies.Study", on_delete=models.PROTECT, related_name="+")
    environment = models.CharField(max_length=10, choices=Environment.choices)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    kit = models.ForeignKey(
        Kit, null=True, blank=True, on_delete=models.PROTECT, related_name="movements"
    )
    # Hospital stock mode has no kits: the product and the quantity say what moved.
    product = models.CharField(max_length=64, blank=True)
    quantity = models.DecimalField(max_digits=12, decimal_places=3, default=0)
    site = models.ForeignKey(
        "accounts.StudySite", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    subject = models.ForeignKey(
        "subjects.Subject", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    actor = models.CharField(max_length=200)
    reason = models.TextField(blank=True)
    at = models.DateTimeField()

    class Meta:
        ordering = ["study", "at", "id"]
        indexes = [
            models.Index(
                fields=["study", "environment", "site", "kind"], name="pharmacy_ledger_site"
            ),
            models.Index(fields=["kit", "at"], name="pharmacy_ledger_kit"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.kit_id or self.product}"
