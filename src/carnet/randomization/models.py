"""Randomisation: the scheme in force, the lists, and each subject's allocation.

Rows here are written only by `carnet.randomization.services`; nothing is deleted or edited
except a list entry being marked used. What the arm of an entry or an allocation is must only
reach a person through the blinding policy (`carnet.accounts.blinding`), and a list's seed and
unused entries reach nobody through the pages or the API.
"""

from __future__ import annotations

from django.db import models

from carnet.subjects.environments import Environment


class Method(models.TextChoices):
    SIMPLE = "simple", "simple"
    BLOCKS = "blocks", "permuted blocks"
    MINIMISATION = "minimisation", "minimisation"


class Scheme(models.Model):
    """A study's randomisation scheme as a published version declared it (numbered 1, 2, …).

    A new number only when an amendment changes the scheme: allocations and lists record the
    scheme they followed, so a later amendment never rewrites how an earlier subject was allocated.
    """

    study = models.ForeignKey("studies.Study", on_delete=models.PROTECT, related_name="+")
    number = models.PositiveIntegerField()
    study_version = models.ForeignKey(
        "studies.StudyVersion", on_delete=models.PROTECT, related_name="+"
    )
    method = models.CharField(max_length=20, choices=Method.choices)
    definition = models.JSONField()  # the scheme's fields, defaults filled in
    sha256 = models.CharField(max_length=64)  # of the definition's canonical JSON
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["study", "number"], name="randomisation_scheme_unique")
        ]

    def __str__(self) -> str:
        return f"{self.study_id} scheme {self.number} ({self.method})"


class AllocationList(models.Model):
    """A randomisation list of a scheme in one environment: generated here or imported.

    One list per scheme and environment; a production list is only ever extended (new entries
    appended to its strata), never edited. The seed is the secret that makes a generated list
    concealed and provable: it is shown to nobody, and `verify` regenerates the list from it.
    """

    class Source(models.TextChoices):
        GENERATED = "generated", "generated in Carnet"
        IMPORTED = "imported", "imported"

    scheme = models.ForeignKey(Scheme, on_delete=models.PROTECT, related_name="lists")
    environment = models.CharField(max_length=10, choices=Environment.choices)
    source = models.CharField(max_length=10, choices=Source.choices)
    seed = models.CharField(max_length=80, blank=True)  # generated lists only; never displayed
    per_stratum = models.PositiveIntegerField(default=0)  # generated: entries asked per stratum
    file_name = models.CharField(max_length=300, blank=True)  # imported lists
    file_sha256 = models.CharField(max_length=64, blank=True)
    created_by = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["scheme", "environment"], name="randomisation_list_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.scheme} list ({self.environment}, {self.source})"


class ListEntry(models.Model):
    """One line of a list: the ``sequence``-th allocation of a stratum and its arm.

    Concealed until used: no page, API answer or listing shows an unused entry.
    """

    allocation_list = models.ForeignKey(
        AllocationList, on_delete=models.PROTECT, related_name="entries"
    )
    stratum = models.CharField(max_length=200)  # e.g. "site=01|smoker=1", or "all"
    sequence = models.PositiveIntegerField()
    block = models.PositiveIntegerField(null=True, blank=True)
    block_size = models.PositiveIntegerField(null=True, blank=True)
    arm = models.CharField(max_length=64)
    # For blinded studies (kits, a later issue): the code the site and pharmacy see.
    treatment_code = models.CharField(max_length=40, blank=True)
    concealed = models.BooleanField(default=True)
    used_by = models.OneToOneField(
        "subjects.Subject",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["allocation_list", "stratum", "sequence"]
        constraints = [
            models.UniqueConstraint(
                fields=["allocation_list", "stratum", "sequence"],
                name="randomisation_entry_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.stratum} #{self.sequence}"


class AllocationCounter(models.Model):
    """The last allocation number of a study in one environment; allocations lock this row.

    Locking it (SELECT … FOR UPDATE) makes a study's allocations one at a time: minimisation
    must see every earlier allocation, and a list entry must be taken by one subject only.
    """

    study = models.ForeignKey("studies.Study", on_delete=models.PROTECT, related_name="+")
    environment = models.CharField(max_length=10, choices=Environment.choices)
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["study", "environment"], name="randomisation_counter_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.study_id}/{self.environment}: {self.last}"


class Allocation(models.Model):
    """A subject's randomisation: exactly one per subject, never changed (ICH E9)."""

    subject = models.OneToOneField(
        "subjects.Subject", on_delete=models.PROTECT, related_name="allocation"
    )
    study = models.ForeignKey("studies.Study", on_delete=models.PROTECT, related_name="+")
    environment = models.CharField(max_length=10, choices=Environment.choices)
    scheme = models.ForeignKey(Scheme, on_delete=models.PROTECT, related_name="allocations")
    number = models.PositiveIntegerField()  # the allocation number, 1, 2, … per study
    method = models.CharField(max_length=20, choices=Method.choices)
    arm = models.CharField(max_length=64)
    stratum = models.CharField(max_length=200, blank=True)
    factors = models.JSONField(default=dict)  # each factor's level at allocation
    # Minimisation and simple randomisation: the uniform number in [0, 1) that decided.
    draw = models.FloatField(null=True, blank=True)
    # Minimisation: each arm's score; replayed by `verify`.
    scores = models.JSONField(default=dict)
    list_entry = models.OneToOneField(
        ListEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="allocation"
    )
    randomised_on = models.DateField()  # at the subject's site: the schedule's anchor
    allocated_by_id = models.IntegerField(null=True)
    allocated_by = models.CharField(max_length=200)
    allocated_at = models.DateTimeField()
    # For later issues: how the allocation was made ("system"; "paper" during an outage), the
    # kit given, and when the subject's arm was revealed in an emergency.
    channel = models.CharField(max_length=10, default="system")
    kit_number = models.CharField(max_length=40, blank=True)
    unblinded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["study", "environment", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["study", "environment", "number"], name="randomisation_number_unique"
            )
        ]

    def __str__(self) -> str:
        return f"allocation {self.number} of {self.subject_id}"


class Kit(models.Model):
    """A kit of a blinded study's per-site kit list: its number, the arm it holds, its site.

    The number is what the site and the hospital pharmacy enter and see; the list as a whole is
    arm-revealing (number → arm), so only unblinded roles read it. Rows are written by
    `carnet.randomization.kits` only; a kit is marked given, never edited or deleted.
    """

    study = models.ForeignKey("studies.Study", on_delete=models.PROTECT, related_name="+")
    environment = models.CharField(max_length=10, choices=Environment.choices)
    site = models.ForeignKey("accounts.StudySite", on_delete=models.PROTECT, related_name="+")
    number = models.CharField(max_length=40)
    arm = models.CharField(max_length=64)
    given_to = models.OneToOneField(
        "subjects.Subject", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    given_at = models.DateTimeField(null=True, blank=True)
    # Reserved for a sealed envelope of the site's backup list: central allocation skips it.
    reserved = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["study", "environment", "site", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["study", "environment", "number"], name="randomisation_kit_unique"
            )
        ]

    def __str__(self) -> str:
        return f"kit {self.number}"


class Unblinding(models.Model):
    """An unblinding of one subject: an emergency one (the site's team sees the subject's arm
    from then on) or a pharmacovigilance one (the pharmacovigilance role only, for one case)."""

    class Kind(models.TextChoices):
        EMERGENCY = "emergency", "emergency"
        PHARMACOVIGILANCE = "pharmacovigilance", "pharmacovigilance"

    allocation = models.ForeignKey(Allocation, on_delete=models.PROTECT, related_name="unblindings")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    reason = models.TextField()
    case_reference = models.CharField(max_length=100, blank=True)  # PV: the case (e.g. SUSAR)
    by_id = models.IntegerField(null=True)
    by = models.CharField(max_length=200)
    at = models.DateTimeField()
    signature = models.ForeignKey(
        "accounts.Signature", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["allocation", "at"]

    def __str__(self) -> str:
        return f"{self.kind} unblinding of {self.allocation_id}"


class StudyUnblinding(models.Model):
    """The end of the blind of a whole study, after its database lock: who authorised it,
    why, under which signature, and on which lock (its name, e.g. DBLOCK-1). One per study."""

    study = models.OneToOneField(
        "studies.Study", on_delete=models.PROTECT, related_name="unblinding"
    )
    reason = models.TextField()
    basis = models.CharField(max_length=100, blank=True)  # the database lock it follows
    by_id = models.IntegerField(null=True)
    by = models.CharField(max_length=200)
    at = models.DateTimeField()
    signature = models.OneToOneField(
        "accounts.Signature", on_delete=models.PROTECT, related_name="+"
    )

    def __str__(self) -> str:
        return f"unblinding of study {self.study_id}"


class BackupList(models.Model):
    """A site's reserved emergency list: the sealed envelopes the pharmacy keeps for an outage.

    Generated with the list generator (`blocks.stratum_list`) from its own secret seed, per
    stratum of the site, and kept apart from the central list: central allocation never takes an
    envelope. For a blocks scheme the strata are the scheme's; for minimisation and simple
    randomisation the envelopes are stratified permuted blocks on the scheme's factors, as is
    customary for a paper backup.
    """

    scheme = models.ForeignKey(Scheme, on_delete=models.PROTECT, related_name="backup_lists")
    environment = models.CharField(max_length=10, choices=Environment.choices)
    site = models.ForeignKey("accounts.StudySite", on_delete=models.PROTECT, related_name="+")
    seed = models.CharField(max_length=80)  # never displayed; only its SHA-256 is audited
    per_stratum = models.PositiveIntegerField()
    block_sizes = models.JSONField(default=list)
    created_by = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["scheme", "environment", "site"], name="randomisation_backup_unique"
            )
        ]

    def __str__(self) -> str:
        return f"backup list of site {self.site_id} ({self.environment})"


class Envelope(models.Model):
    """One sealed envelope of a site's backup list: its number and stratum outside, the arm inside.

    ``number`` is what the site writes down as the allocation number during an outage. Once the
    allocation made with it is recorded, ``allocation`` links it; an envelope found opened without
    a recorded allocation is reported (``opened_at``) and shows in the reconciliation listing.
    """

    backup_list = models.ForeignKey(BackupList, on_delete=models.PROTECT, related_name="envelopes")
    number = models.CharField(max_length=40)  # e.g. "E01-0007": unique in the study's environment
    stratum = models.CharField(max_length=200)
    sequence = models.PositiveIntegerField()
    block = models.PositiveIntegerField()
    block_size = models.PositiveIntegerField()
    arm = models.CharField(max_length=64)
    kit_number = models.CharField(max_length=40, blank=True)  # blinded studies with kits
    allocation = models.OneToOneField(
        Allocation, null=True, blank=True, on_delete=models.PROTECT, related_name="envelope"
    )
    # At the site: who opened it, when (the allocation's moment), why the system was not used,
    # and the kit the site says it dispensed (compared with the envelope's in reconciliation).
    allocated_by = models.CharField(max_length=200, blank=True)
    reason = models.TextField(blank=True)
    kit_given = models.CharField(max_length=40, blank=True)
    recorded_by = models.CharField(max_length=200, blank=True)
    recorded_at = models.DateTimeField(null=True, blank=True)
    # Found opened (seal broken) without an allocation recorded: reported by the site or monitor.
    opened_at = models.DateTimeField(null=True, blank=True)
    opened_note = models.TextField(blank=True)
    opened_reported_by = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["backup_list", "stratum", "sequence"]
        constraints = [
            models.UniqueConstraint(
                fields=["backup_list", "stratum", "sequence"], name="randomisation_envelope_unique"
            ),
            models.UniqueConstraint(
                fields=["backup_list", "number"], name="randomisation_envelope_number_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"envelope {self.number}"
