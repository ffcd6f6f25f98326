"""Oversight of collected data: locks on a form, a visit, a subject or a site's data, and the
investigator's signatures of a form, a visit or a whole casebook.

Both name what they cover by the same scope and keys, so that the later source data
verification (item 1) and the database lock (item 5) can cover the same places: a lock or a
signature of a visit covers every form of that event occurrence, a subject's covers their whole
casebook, a site's every subject of the site.
"""

from __future__ import annotations

from django.db import models


class Scope(models.TextChoices):
    FORM = "form", "form"
    VISIT = "visit", "visit"
    SUBJECT = "subject", "subject"  # a lock of the subject; a signature of the whole casebook
    SITE = "site", "site"  # locks only


class DataLock(models.Model):
    """A lock a data manager put on data, with a reason; lifted by an unlock, with a reason.

    A lock in force (``unlocked_at`` empty) refuses every write of captured data it covers.
    Rows are never deleted: the list of a study's locks is their history.
    """

    study = models.ForeignKey("studies.Study", on_delete=models.PROTECT, related_name="+")
    scope = models.CharField(max_length=10, choices=Scope.choices)
    site = models.ForeignKey("accounts.StudySite", on_delete=models.PROTECT, related_name="+")
    subject = models.ForeignKey(
        "subjects.Subject", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    event = models.CharField(max_length=64, blank=True)
    occurrence = models.PositiveIntegerField(null=True, blank=True)
    form = models.CharField(max_length=64, blank=True)
    repeat = models.PositiveIntegerField(null=True, blank=True)
    reason = models.TextField()
    locked_by = models.CharField(max_length=200)
    locked_at = models.DateTimeField()
    unlocked_by = models.CharField(max_length=200, blank=True)
    unlocked_at = models.DateTimeField(null=True, blank=True)
    unlock_reason = models.TextField(blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["study", "unlocked_at"], name="data_lock_study_idx"),
            models.Index(fields=["subject", "unlocked_at"], name="data_lock_subject_idx"),
            models.Index(fields=["site", "unlocked_at"], name="data_lock_site_idx"),
        ]
        ordering = ["-locked_at", "-id"]

    def __str__(self) -> str:
        return f"lock #{self.pk} of {self.scope} ({self.place()})"

    @property
    def in_force(self) -> bool:
        return self.unlocked_at is None

    def place(self) -> str:
        """Return what the lock covers, as the trail and the pages name it."""
        return place_name(self.scope, self.site.code, self.subject, self)


class DataSignature(models.Model):
    """The investigator's signature of a form, a visit or a whole casebook.

    The e-signature itself (password, meaning, binding hash over the signed content) is
    accounts' `Signature`; this row says what it covers. A later change of covered data voids it
    (the save listener): ``voided_at`` and the change's reason stay visible.
    """

    study = models.ForeignKey("studies.Study", on_delete=models.PROTECT, related_name="+")
    subject = models.ForeignKey("subjects.Subject", on_delete=models.PROTECT, related_name="+")
    scope = models.CharField(max_length=10, choices=Scope.choices)
    event = models.CharField(max_length=64, blank=True)
    occurrence = models.PositiveIntegerField(null=True, blank=True)
    form = models.CharField(max_length=64, blank=True)
    repeat = models.PositiveIntegerField(null=True, blank=True)
    signature = models.OneToOneField(
        "accounts.Signature", on_delete=models.PROTECT, related_name="+"
    )
    signed_at = models.DateTimeField()
    signer_name = models.CharField(max_length=200)
    meaning = models.CharField(max_length=300)
    voided_at = models.DateTimeField(null=True, blank=True)
    voided_by = models.CharField(max_length=200, blank=True)
    void_reason = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["subject", "voided_at"], name="data_signature_subject_idx")]
        ordering = ["-signed_at", "-id"]

    def __str__(self) -> str:
        return f"signature #{self.pk} of {self.scope} ({self.place()})"

    @property
    def valid(self) -> bool:
        return self.voided_at is None

    def place(self) -> str:
        return place_name(self.scope, self.subject.site.code, self.subject, self)


def place_name(scope: str, site_code: str, subject: object, where: DataLock | DataSignature) -> str:
    """Return "site 01", "01-001", "01-001 baseline#1" or "01-001 baseline#1 vitals"."""
    if scope == Scope.SITE:
        return f"site {site_code}"
    name = str(getattr(subject, "identifier", ""))
    if scope == Scope.SUBJECT:
        return name
    name += f" {where.event}#{where.occurrence}"
    if scope == Scope.VISIT:
        return name
    repeat = f"#{where.repeat}" if where.repeat and where.repeat > 1 else ""
    return f"{name} {where.form}{repeat}"
