"""A sample's collection and pre-analytics: how it was taken (the nurse's record) and each
processing step with its times (centrifugations, freezing, fixation), from which its SPREC code
and its deviations from the protocol's conditions are computed."""

from __future__ import annotations

from django.db import models

from carnet.biobank.models.samples import Sample


class Haemolysis(models.TextChoices):
    NONE = "none", "none"
    SLIGHT = "slight", "slight"
    MODERATE = "moderate", "moderate"
    SEVERE = "severe", "severe"


class Held(models.TextChoices):
    """Where a sample waited before a step: SPREC tells room temperature from 2-10 °C."""

    ROOM = "room", "room temperature"
    COLD = "cold", "2-10 °C"


class SampleCollection(models.Model):
    """What was recorded when the sample was taken, and what its processing makes of it."""

    sample = models.OneToOneField(Sample, on_delete=models.PROTECT, related_name="collection")
    # Tissue: surgery, biopsy… (SPREC's type of collection); "" for a fluid.
    collection_method = models.CharField(max_length=30, blank=True)
    # Tissue: minutes from vascular clamping to excision, as the surgeon reports it.
    warm_ischaemia_minutes = models.PositiveIntegerField(null=True, blank=True)
    held = models.CharField(max_length=4, choices=Held.choices, default=Held.ROOM)
    # Quality as the nurse or the technician sees it.
    haemolysis = models.CharField(max_length=10, choices=Haemolysis.choices, blank=True)
    volume_sufficient = models.BooleanField(null=True)
    comment = models.CharField(max_length=500, blank=True)
    # The protocol's conditions not met: [{"code": …, "message": …}], recomputed at each step.
    deviations = models.JSONField(default=list)

    def __str__(self) -> str:
        return f"collection of {self.sample_id}"


class StepKind(models.TextChoices):
    CENTRIFUGATION = "centrifugation", "centrifugation"
    SECOND_CENTRIFUGATION = "second_centrifugation", "second centrifugation"
    FREEZING = "freezing", "freezing"
    FIXATION = "fixation", "fixation"


class ProcessingStep(models.Model):
    """One step of a sample's processing, with its times; one of each kind a sample (recorded
    again, it is corrected: the audit trail keeps the earlier times)."""

    sample = models.ForeignKey(Sample, on_delete=models.PROTECT, related_name="processing_steps")
    kind = models.CharField(max_length=24, choices=StepKind.choices)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    temperature = models.DecimalField(max_digits=6, decimal_places=1, null=True, blank=True)
    force_g = models.PositiveIntegerField(null=True, blank=True)
    braking = models.BooleanField(default=True)
    # Where the sample waited before this step (room temperature or 2-10 °C).
    held = models.CharField(max_length=4, choices=Held.choices, default=Held.ROOM)
    fixative = models.CharField(max_length=30, blank=True)
    recorded_at = models.DateTimeField()
    recorded_by = models.CharField(max_length=200)

    class Meta:
        ordering = ["sample", "started_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["sample", "kind"], name="biobank_one_step_of_a_kind")
        ]

    def __str__(self) -> str:
        return f"{self.kind} of {self.sample_id}"
