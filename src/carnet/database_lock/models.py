"""The database lock of a study: waivers of its checklist's items, the lock record signed in
turn by the data manager, the statistician, the coordinating investigator and the sponsor, and
its signed unlock.

The checklist itself is not stored: it is computed live (checklist.py). What is stored is what
people did about it (a waiver with a reason) and what they signed.
"""

from __future__ import annotations

from django.db import models


class LockStatus(models.TextChoices):
    SIGNING = "signing", "signing"  # signatures under way; data still change
    LOCKED = "locked", "locked"  # every signature given: the study refuses writes
    UNLOCKED = "unlocked", "unlocked"  # lifted by a signed unlock with a reason


class Step(models.TextChoices):
    """Who signs a database lock, in this order."""

    DATA_MANAGER = "data_manager", "data manager"
    STATISTICIAN = "statistician", "statistician"
    COORDINATING_INVESTIGATOR = "coordinating_investigator", "coordinating investigator"
    SPONSOR = "sponsor", "sponsor"


STEPS = tuple(Step)


class ChecklistWaiver(models.Model):
    """A data manager's decision that an item of the checklist does not stop the lock, with a
    reason. It covers the item as it stood (``count``): a new problem after it un-waives the
    item. Withdrawn waivers stay (``withdrawn_at``)."""

    study = models.ForeignKey("studies.Study", on_delete=models.PROTECT, related_name="+")
    item = models.CharField(max_length=64)
    count = models.PositiveIntegerField(help_text="How many the item counted when waived.")
    reason = models.TextField()
    waived_by = models.CharField(max_length=200)
    waived_at = models.DateTimeField()
    withdrawn_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["study", "withdrawn_at"], name="dblock_waiver_study_idx")]
        ordering = ["-waived_at", "-id"]

    def __str__(self) -> str:
        return f"waiver of {self.item} ({self.count})"


class DatabaseLock(models.Model):
    """One database lock of a study: signed in turn, then locked with an archived, hashed
    snapshot (a cut-off and its export), until a signed unlock with a reason."""

    study = models.ForeignKey("studies.Study", on_delete=models.PROTECT, related_name="+")
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=LockStatus.choices)
    started_by = models.CharField(max_length=200)
    started_at = models.DateTimeField()
    locked_at = models.DateTimeField(null=True, blank=True)
    # The snapshot at lock: interop's cut-off, the archive's and its manifest's SHA-256.
    cutoff = models.ForeignKey(
        "interop.Cutoff", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    archive_name = models.CharField(max_length=200, blank=True)
    archive_sha256 = models.CharField(max_length=64, blank=True)
    manifest_sha256 = models.CharField(max_length=64, blank=True)
    audit_seq = models.PositiveBigIntegerField(null=True, blank=True)
    audit_head_hash = models.CharField(max_length=64, blank=True)
    checklist = models.JSONField(default=list, help_text="The checklist as it stood at lock.")
    unlocked_at = models.DateTimeField(null=True, blank=True)
    unlocked_by = models.CharField(max_length=200, blank=True)
    unlock_reason = models.TextField(blank=True)
    unlock_signature = models.OneToOneField(
        "accounts.Signature", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["study", "number"], name="dblock_study_number"),
            # One lock under way or in force per study.
            models.UniqueConstraint(
                fields=["study"],
                condition=models.Q(status__in=["signing", "locked"]),
                name="dblock_one_current_per_study",
            ),
        ]
        ordering = ["-number"]

    def __str__(self) -> str:
        return f"database lock {self.number} of {self.study_id} ({self.status})"

    @property
    def name(self) -> str:
        """Return the lock's name, which its cut-off carries (DBLOCK-1, DBLOCK-2…)."""
        return f"DBLOCK-{self.number}"


class LockSignature(models.Model):
    """One signature of a database lock: its step, and accounts' e-signature."""

    lock = models.ForeignKey(DatabaseLock, on_delete=models.PROTECT, related_name="signatures")
    step = models.CharField(max_length=32, choices=Step.choices)
    signature = models.OneToOneField(
        "accounts.Signature", on_delete=models.PROTECT, related_name="+"
    )
    signer_name = models.CharField(max_length=200)
    signer_id = models.PositiveIntegerField()
    meaning = models.CharField(max_length=300)
    signed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["lock", "step"], name="dblock_one_signature_per_step")
        ]
        ordering = ["signed_at", "id"]

    def __str__(self) -> str:
        return f"{self.step} signature of {self.lock}"
