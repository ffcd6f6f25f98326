"""Samples leaving the biobank and what the patient's consent decides about them: destinations
(a trial's central lab, a research partner), material transfer agreements, researchers' sample
requests, shipments with their items and reconciliation, and the destruction or return of
samples after a withdrawal of consent.

Rows are written by the biobank's services only; every change is an audit event; nothing is
deleted (a refused request, a missing sample and a destroyed sample stay on record).
"""

from __future__ import annotations

from django.db import models

from carnet.subjects.environments import Environment


class SampleUse(models.TextChoices):
    """What a sample may be used for; consent.py says which consent each use needs."""

    STORAGE = "storage", "storage in the biobank"
    PROTOCOL_ANALYSIS = "protocol_analysis", "the protocol's own analyses"
    FUTURE_RESEARCH = "future_research", "future research"
    GENETIC_ANALYSIS = "genetic_analysis", "genetic analysis"
    SHARING = "sharing", "sharing outside the centre"


class DestinationKind(models.TextChoices):
    CENTRAL_LAB = "central_lab", "the trial's central laboratory"
    PARTNER = "partner", "a research partner"


class Destination(models.Model):
    """Where samples of a study go: the trial's central lab or a research partner."""

    study = models.ForeignKey("studies.Study", on_delete=models.PROTECT, related_name="+")
    code = models.CharField(max_length=40)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=12, choices=DestinationKind.choices)
    address = models.TextField(blank=True)
    contact = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField()
    created_by = models.CharField(max_length=200)

    class Meta:
        ordering = ["study", "code"]
        constraints = [
            models.UniqueConstraint(fields=["study", "code"], name="biobank_destination_unique")
        ]

    def __str__(self) -> str:
        return f"destination {self.code}"


class TransferAgreement(models.Model):
    """A material transfer agreement (MTA): to whom, which samples, which uses, when, how many."""

    study = models.ForeignKey("studies.Study", on_delete=models.PROTECT, related_name="+")
    reference = models.CharField(max_length=60)
    destination = models.ForeignKey(Destination, on_delete=models.PROTECT, related_name="+")
    # Empty: any sample type of the study.
    sample_types = models.JSONField(default=list)
    uses = models.JSONField(default=list)
    starts_on = models.DateField()
    ends_on = models.DateField()
    # None: no limit on the number of samples sent under it.
    maximum_samples = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField()
    created_by = models.CharField(max_length=200)

    class Meta:
        ordering = ["study", "reference"]
        constraints = [
            models.UniqueConstraint(fields=["study", "reference"], name="biobank_mta_unique")
        ]

    def __str__(self) -> str:
        return f"MTA {self.reference}"


class RequestStatus(models.TextChoices):
    SUBMITTED = "submitted", "submitted"
    APPROVED = "approved", "approved"
    REFUSED = "refused", "refused"
    SHIPPED = "shipped", "shipped"


class SampleRequest(models.Model):
    """A researcher's request for samples: what, how many, for which use and purpose."""

    study = models.ForeignKey("studies.Study", on_delete=models.PROTECT, related_name="+")
    environment = models.CharField(max_length=10, choices=Environment.choices)
    reference = models.CharField(max_length=40)
    destination = models.ForeignKey(Destination, on_delete=models.PROTECT, related_name="+")
    sample_type = models.CharField(max_length=40)
    quantity = models.PositiveIntegerField()
    use = models.CharField(max_length=20, choices=SampleUse.choices)
    purpose = models.TextField()
    status = models.CharField(
        max_length=10, choices=RequestStatus.choices, default=RequestStatus.SUBMITTED
    )
    requested_by = models.CharField(max_length=200)
    requested_by_id = models.IntegerField(null=True)
    requested_at = models.DateTimeField()
    agreement = models.ForeignKey(
        TransferAgreement, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_by = models.CharField(max_length=200, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["study", "-requested_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["study", "reference"], name="biobank_request_unique")
        ]

    def __str__(self) -> str:
        return f"sample request {self.reference}"


class ShipmentStatus(models.TextChoices):
    PREPARED = "prepared", "prepared"
    SENT = "sent", "sent"
    RECEIVED = "received", "received"


class Shipment(models.Model):
    """Samples sent together to one destination, for one use, under an MTA where one is needed."""

    study = models.ForeignKey("studies.Study", on_delete=models.PROTECT, related_name="+")
    environment = models.CharField(max_length=10, choices=Environment.choices)
    reference = models.CharField(max_length=40)
    destination = models.ForeignKey(Destination, on_delete=models.PROTECT, related_name="+")
    use = models.CharField(max_length=20, choices=SampleUse.choices)
    agreement = models.ForeignKey(
        TransferAgreement, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    request = models.OneToOneField(
        SampleRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="shipment"
    )
    status = models.CharField(
        max_length=10, choices=ShipmentStatus.choices, default=ShipmentStatus.PREPARED
    )
    prepared_at = models.DateTimeField()
    prepared_by = models.CharField(max_length=200)
    sent_at = models.DateTimeField(null=True, blank=True)
    sent_by = models.CharField(max_length=200, blank=True)
    received_at = models.DateTimeField(null=True, blank=True)
    received_by = models.CharField(max_length=200, blank=True)
    # Identifiers the destination listed that were not in the shipment.
    unexpected = models.JSONField(default=list)

    class Meta:
        ordering = ["study", "-prepared_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["study", "reference"], name="biobank_shipment_unique")
        ]

    def __str__(self) -> str:
        return f"shipment {self.reference}"


class ShipmentItem(models.Model):
    """One sample of a shipment; `received` is set by the reconciliation (None before it)."""

    shipment = models.ForeignKey(Shipment, on_delete=models.PROTECT, related_name="items")
    sample = models.ForeignKey("biobank.Sample", on_delete=models.PROTECT, related_name="+")
    received = models.BooleanField(null=True)

    class Meta:
        ordering = ["shipment", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["shipment", "sample"], name="biobank_item_unique")
        ]

    def __str__(self) -> str:
        return f"item {self.sample_id} of {self.shipment_id}"


class DispositionAction(models.TextChoices):
    DESTROYED = "destroyed", "destroyed"
    RETURNED = "returned", "returned"
    # Storage consent still holds: kept for the protocol's own analyses only.
    KEPT_FOR_PROTOCOL = "kept", "kept for the protocol's analyses"


class SampleDisposition(models.Model):
    """What was done with a sample a withdrawal of consent concerns, and why."""

    sample = models.ForeignKey("biobank.Sample", on_delete=models.PROTECT, related_name="+")
    # The withdrawal it answers: "biobank:2026-03-01", "future_research:…", "data_use:…".
    withdrawal = models.CharField(max_length=40)
    action = models.CharField(max_length=10, choices=DispositionAction.choices)
    reason = models.TextField()
    recorded_at = models.DateTimeField()
    recorded_by = models.CharField(max_length=200)

    class Meta:
        ordering = ["sample", "recorded_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["sample", "withdrawal"], name="biobank_disposition_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.sample_id} ({self.withdrawal})"
