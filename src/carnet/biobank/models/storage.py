"""Storage: the centre's freezers, their racks and boxes (rows × columns), where each sample
sits, and every put-away, move and take-out with who and when.

Freezers belong to a centre, not to a study: one freezer holds the samples of several trials.
A position holds one sample (a unique constraint on box, row and column) and a sample has one
position (a unique sample). A movement row is never changed or deleted: it is the sample's
storage history, beside the audit events of each move.
"""

from __future__ import annotations

from django.db import models


class FreezerStatus(models.TextChoices):
    IN_SERVICE = "in_service", "in_service"
    FAILED = "failed", "failed"  # its samples were moved away by a freezer failure


class Freezer(models.Model):
    """A freezer (or a nitrogen tank, a cold room) of a centre, at its set temperature."""

    centre = models.ForeignKey("accounts.Centre", on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=60)
    temperature = models.IntegerField(help_text="Set temperature in °C, e.g. -80.")
    location = models.CharField(max_length=200, blank=True)
    status = models.CharField(
        max_length=12, choices=FreezerStatus.choices, default=FreezerStatus.IN_SERVICE
    )
    created_at = models.DateTimeField()
    created_by = models.CharField(max_length=200)

    class Meta:
        ordering = ["centre", "name"]
        constraints = [
            models.UniqueConstraint(fields=["centre", "name"], name="biobank_freezer_name")
        ]

    def __str__(self) -> str:
        return f"freezer {self.name}"


class Rack(models.Model):
    """A rack (or a shelf, a drawer) of a freezer, holding boxes."""

    freezer = models.ForeignKey(Freezer, on_delete=models.PROTECT, related_name="racks")
    name = models.CharField(max_length=60)
    created_at = models.DateTimeField()
    created_by = models.CharField(max_length=200)

    class Meta:
        ordering = ["freezer", "name"]
        constraints = [
            models.UniqueConstraint(fields=["freezer", "name"], name="biobank_rack_name")
        ]

    def __str__(self) -> str:
        return f"rack {self.name}"


class Box(models.Model):
    """A box of ``rows`` × ``columns`` positions: rows are letters (A, B…), columns numbers."""

    rack = models.ForeignKey(Rack, on_delete=models.PROTECT, related_name="boxes")
    name = models.CharField(max_length=60)
    rows = models.PositiveSmallIntegerField()
    columns = models.PositiveSmallIntegerField()
    # Positions holding a sample, kept by the storage services in the same transaction as the
    # positions: a box map, a freezer's capacity and the boxes with space read it instead of
    # counting 100,000 positions. The positions (one per sample, one per place) stay the truth.
    used = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField()
    created_by = models.CharField(max_length=200)

    class Meta:
        ordering = ["rack", "name"]
        constraints = [models.UniqueConstraint(fields=["rack", "name"], name="biobank_box_name")]

    def __str__(self) -> str:
        return f"box {self.name}"

    @property
    def capacity(self) -> int:
        return self.rows * self.columns


class SamplePosition(models.Model):
    """Where a stored sample sits now. Taking a sample out removes its row (the movement and
    the audit event keep where it was)."""

    sample = models.OneToOneField(
        "biobank.Sample", on_delete=models.PROTECT, related_name="position"
    )
    box = models.ForeignKey(Box, on_delete=models.PROTECT, related_name="positions")
    # The sample's study and site, copied: a freezer's content list reads one study's positions
    # box by box without joining 100,000 samples.
    study = models.ForeignKey("studies.Study", on_delete=models.PROTECT, related_name="+")
    site = models.ForeignKey("accounts.StudySite", on_delete=models.PROTECT, related_name="+")
    row = models.PositiveSmallIntegerField()  # 1 = A
    column = models.PositiveSmallIntegerField()  # 1-based
    stored_at = models.DateTimeField()
    stored_by = models.CharField(max_length=200)

    class Meta:
        constraints = [
            # One sample per position: two technicians storing into the same place at the
            # same moment cannot both succeed.
            models.UniqueConstraint(fields=["box", "row", "column"], name="biobank_one_per_place")
        ]
        indexes = [models.Index(fields=["box", "study"], name="biobank_position_box_study")]

    def __str__(self) -> str:
        return f"{self.sample_id} at {self.box_id}/{self.row}/{self.column}"


class MovementKind(models.TextChoices):
    STORE = "store", "store"
    MOVE = "move", "move"
    TAKE_OUT = "take_out", "take_out"
    FAILURE = "failure", "failure"  # moved by a freezer failure


class FreezerFailure(models.Model):
    """A freezer that failed, and the freezer its samples were moved to, in one record."""

    freezer = models.ForeignKey(Freezer, on_delete=models.PROTECT, related_name="failures")
    moved_to = models.ForeignKey(Freezer, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField()
    samples_moved = models.PositiveIntegerField()
    recorded_at = models.DateTimeField()
    recorded_by = models.CharField(max_length=200)

    class Meta:
        ordering = ["-recorded_at"]

    def __str__(self) -> str:
        return f"failure of {self.freezer_id}"


class StorageMovement(models.Model):
    """One put-away, move or take-out of a sample: from where, to where, who, when, why."""

    sample = models.ForeignKey("biobank.Sample", on_delete=models.PROTECT, related_name="movements")
    kind = models.CharField(max_length=10, choices=MovementKind.choices)
    # Places as people read them ("F-80-1 / R1 / BOX-01 / C4"): the history stays readable
    # whatever later happens to the boxes.
    from_place = models.CharField(max_length=250, blank=True)
    to_place = models.CharField(max_length=250, blank=True)
    failure = models.ForeignKey(
        FreezerFailure, null=True, blank=True, on_delete=models.PROTECT, related_name="movements"
    )
    reason = models.CharField(max_length=500, blank=True)
    moved_at = models.DateTimeField()
    moved_by = models.CharField(max_length=200)

    class Meta:
        ordering = ["sample", "moved_at", "pk"]

    def __str__(self) -> str:
        return f"{self.kind} of {self.sample_id}"
