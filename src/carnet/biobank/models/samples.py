"""Samples: what was collected from a patient (or derived from another sample), where it came
from in the protocol, and what became of it.

A sample is never deleted: its status moves along its life (stored, shipped, consumed,
destroyed after a withdrawal of consent…), each move an audit event. Aliquots and derivatives
name their parent; their volumes together never exceed the parent's.
"""

from __future__ import annotations

from django.db import models

from carnet.subjects.environments import Environment


class SampleStatus(models.TextChoices):
    EXPECTED = "expected", "expected"  # not used for rows: the protocol's expectation is computed
    COLLECTED = "collected", "collected"  # taken, not yet put away
    STORED = "stored", "stored"  # at a position of a box
    IN_TRANSIT = "in_transit", "in_transit"  # in a shipment sent, not yet received
    SHIPPED = "shipped", "shipped"  # received by the shipment's destination
    CONSUMED = "consumed", "consumed"  # used up by aliquoting or an analysis
    DESTROYED = "destroyed", "destroyed"
    RETURNED = "returned", "returned"  # returned to the patient or the collecting site
    MISSING = "missing", "missing"  # expected in a shipment, not received


class Sample(models.Model):
    """One tube, block or slide: the patient's, from a visit of the protocol (or derived)."""

    study = models.ForeignKey("studies.Study", on_delete=models.PROTECT, related_name="+")
    environment = models.CharField(max_length=10, choices=Environment.choices)
    subject = models.ForeignKey("subjects.Subject", on_delete=models.PROTECT, related_name="+")
    site = models.ForeignKey("accounts.StudySite", on_delete=models.PROTECT, related_name="+")
    # Unique across the installation: what the label's barcodes carry.
    identifier = models.CharField(max_length=40, unique=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    # The protocol's expectation it fulfils: the YAML's sample code at an event occurrence.
    expected_code = models.CharField(max_length=64, blank=True)
    event = models.CharField(max_length=64, blank=True)
    occurrence = models.PositiveIntegerField(null=True, blank=True)
    # What it is: the YAML's sample type (plasma, serum, whole_blood, tumour_ffpe, dna, slide…).
    sample_type = models.CharField(max_length=40)
    container = models.CharField(max_length=40, blank=True)
    volume = models.DecimalField(max_digits=10, decimal_places=3, null=True, blank=True)
    unit = models.CharField(max_length=10, blank=True)  # mL, µg, blocks, slides
    status = models.CharField(
        max_length=12, choices=SampleStatus.choices, default=SampleStatus.COLLECTED
    )
    collected_at = models.DateTimeField(null=True, blank=True)
    collected_by = models.CharField(max_length=200, blank=True)
    # The SPREC code computed from the processing steps (ISBER's Standard PREanalytical Code).
    sprec = models.CharField(max_length=40, blank=True)
    quality = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField()
    created_by = models.CharField(max_length=200)
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["study", "identifier"]
        indexes = [
            models.Index(fields=["study", "environment", "subject"], name="biobank_sample_subject"),
            models.Index(fields=["study", "environment", "status"], name="biobank_sample_status"),
        ]

    def __str__(self) -> str:
        return f"sample {self.identifier}"
