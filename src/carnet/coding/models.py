"""Medical coding: dictionary versions loaded from the user's licensed files (MedDRA, WHODrug),
the study's coding targets (which item's verbatim is coded against which version), the coded
terms and the history of every coding decision.

No dictionary content is bundled: the tables fill only from the files an installation loads.
Several versions live side by side; a study names the version it codes against.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class DictionaryKind(models.TextChoices):
    MEDDRA = "meddra", "MedDRA"
    WHODRUG = "whodrug", "WHODrug"


class DictionaryVersion(models.Model):
    """One loaded version of a dictionary (all of its files, or nothing)."""

    kind = models.CharField(max_length=10, choices=DictionaryKind.choices)
    version = models.CharField(max_length=32)
    loaded_at = models.DateTimeField()
    loaded_by = models.CharField(max_length=200)
    # Each file's name and SHA-256: which distribution was loaded.
    files = models.JSONField(default=dict)
    terms = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "version"], name="coding_dictionary_unique")
        ]
        ordering = ["kind", "version"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.version}"


class MeddraPt(models.Model):
    """A preferred term with its primary path (HLT, HLGT, SOC) from mdhier.asc."""

    dictionary = models.ForeignKey(DictionaryVersion, on_delete=models.CASCADE, related_name="+")
    code = models.PositiveIntegerField()
    name = models.CharField(max_length=100)
    hlt_code = models.PositiveIntegerField()
    hlt_name = models.CharField(max_length=100)
    hlgt_code = models.PositiveIntegerField()
    hlgt_name = models.CharField(max_length=100)
    soc_code = models.PositiveIntegerField()
    soc_name = models.CharField(max_length=100)
    soc_abbrev = models.CharField(max_length=10)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["dictionary", "code"], name="coding_pt_unique")
        ]

    def __str__(self) -> str:
        return f"PT {self.code} {self.name}"


class MeddraLlt(models.Model):
    """A lowest level term: its PT, whether it is current, and its name's search key."""

    dictionary = models.ForeignKey(DictionaryVersion, on_delete=models.CASCADE, related_name="+")
    code = models.PositiveIntegerField()
    name = models.CharField(max_length=100)
    key = models.CharField(max_length=100, help_text="Lower case, single spaces.")
    pt_code = models.PositiveIntegerField()
    current = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["dictionary", "code"], name="coding_llt_unique")
        ]
        indexes = [models.Index(fields=["dictionary", "key"], name="coding_llt_key")]

    def __str__(self) -> str:
        return f"LLT {self.code} {self.name}"


class WhoDrugName(models.Model):
    """A drug name of WHODrug's DD file with its drug code and first ATC code (DDA file)."""

    dictionary = models.ForeignKey(DictionaryVersion, on_delete=models.CASCADE, related_name="+")
    drug_code = models.CharField(max_length=11)
    name = models.CharField(max_length=1500)
    key = models.CharField(max_length=1500)
    atc_code = models.CharField(max_length=7, blank=True)
    atc_text = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["dictionary", "drug_code"], name="coding_drug_unique")
        ]
        indexes = [models.Index(fields=["dictionary", "key"], name="coding_drug_key")]

    def __str__(self) -> str:
        return f"{self.drug_code} {self.name}"


class CodingTarget(models.Model):
    """A study setting (audited): the item of a form whose verbatim text is coded, and the
    dictionary version that codes it."""

    study = models.ForeignKey("studies.Study", on_delete=models.PROTECT, related_name="+")
    form = models.CharField(max_length=64)
    item = models.CharField(max_length=64)
    dictionary = models.ForeignKey(DictionaryVersion, on_delete=models.PROTECT, related_name="+")
    updated_by = models.CharField(max_length=200)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["study", "form", "item"], name="coding_target_unique")
        ]
        ordering = ["form", "item"]

    def __str__(self) -> str:
        return f"{self.form}.{self.item} ({self.dictionary})"


class TermStatus(models.TextChoices):
    UNCODED = "uncoded", _("uncoded")
    AUTO = "auto", _("coded at the save")  # an exact or synonym match
    CODED = "coded", _("coded by a coder")
    QUERIED = "queried", _("queried")  # a coder query awaits the site's answer


class CodedTerm(models.Model):
    """The coding of one verbatim value (an item of a form instance, a row of its group)."""

    study = models.ForeignKey("studies.Study", on_delete=models.PROTECT, related_name="+")
    subject = models.ForeignKey("subjects.Subject", on_delete=models.PROTECT, related_name="+")
    form_instance = models.ForeignKey(
        "capture.FormInstance", on_delete=models.PROTECT, related_name="+"
    )
    target = models.ForeignKey(CodingTarget, on_delete=models.PROTECT, related_name="terms")
    item = models.CharField(max_length=64)
    row = models.PositiveIntegerField(default=0)
    verbatim = models.TextField()
    key = models.TextField()
    status = models.CharField(max_length=10, choices=TermStatus.choices)
    dictionary = models.ForeignKey(
        DictionaryVersion, on_delete=models.PROTECT, related_name="+", null=True
    )
    # MedDRA
    llt_code = models.PositiveIntegerField(null=True)
    llt_name = models.CharField(max_length=100, blank=True)
    pt_code = models.PositiveIntegerField(null=True)
    pt_name = models.CharField(max_length=100, blank=True)
    soc_code = models.PositiveIntegerField(null=True)
    soc_name = models.CharField(max_length=100, blank=True)
    # WHODrug
    drug_code = models.CharField(max_length=11, blank=True)
    drug_name = models.CharField(max_length=1500, blank=True)
    atc_code = models.CharField(max_length=7, blank=True)
    comment = models.TextField(blank=True)
    query = models.ForeignKey(
        "quality.Query", on_delete=models.PROTECT, related_name="+", null=True
    )
    decided_by = models.CharField(max_length=200, blank=True)
    decided_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["form_instance", "item", "row"], name="coding_term_unique"
            )
        ]
        indexes = [models.Index(fields=["study", "status"], name="coding_term_status")]

    def __str__(self) -> str:
        return f"{self.verbatim} ({self.status})"


class CodingDecision(models.Model):
    """Every decision on a term, kept (exports read the latest before their cut-off)."""

    term = models.ForeignKey(CodedTerm, on_delete=models.CASCADE, related_name="decisions")
    status = models.CharField(max_length=10, choices=TermStatus.choices)
    verbatim = models.TextField()
    dictionary = models.CharField(max_length=50, blank=True)
    codes = models.JSONField(default=dict)
    comment = models.TextField(blank=True)
    reason = models.TextField(blank=True)
    decided_by = models.CharField(max_length=200)
    decided_at = models.DateTimeField()

    class Meta:
        ordering = ["decided_at", "pk"]

    def __str__(self) -> str:
        return f"{self.status} by {self.decided_by}"
