"""Studies and their versions. A published version is immutable; an amendment is a new version."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models.fields.related_descriptors import ForwardManyToOneDescriptor
from django.utils.translation import pgettext_lazy

from carnet.studies.definition.model import StudyDefinition


# Labels in the reader's language; the context tells translators what they qualify ("mode"
# in French is masculine: "gelé", while a version is feminine: "publiée").
class StudyMode(models.TextChoices):
    DESIGN = "design", pgettext_lazy("study mode", "design")
    TEST = "test", pgettext_lazy("study mode", "test (user acceptance; data kept apart)")
    PRODUCTION = "production", pgettext_lazy("study mode", "production")
    FROZEN = "frozen", pgettext_lazy("study mode", "frozen")
    LOCKED = "locked", pgettext_lazy("study mode", "locked")


# What a request rarely needs of a version: the source, the definition (read through `parsed`),
# the migration report.
BULKY_VERSION_FIELDS = ("source_text", "definition", "migration_report")


class _LightVersion(ForwardManyToOneDescriptor):
    """`study.current_version`, read without the version's bulky columns.

    Nearly every service asks for `study.current_version.parsed()`, which the process already
    holds parsed: the demo's load read and decoded the definition's JSON (about 120 kB for
    MAINTAIN-CRC) some 2,100 times, 260 MB in all. A deferred column is still read when asked
    for, in one more query."""

    def get_queryset(self, **hints: Any) -> models.QuerySet[Any]:
        return super().get_queryset(**hints).defer(*BULKY_VERSION_FIELDS)


class Study(models.Model):
    """A study run or served by the data centre, known by its identifier (e.g. MAINTAIN-CRC)."""

    identifier = models.CharField(max_length=40, unique=True)
    mode = models.CharField(max_length=12, choices=StudyMode.choices, default=StudyMode.DESIGN)
    created_at = models.DateTimeField(auto_now_add=True)
    # The version pages and capture use: the latest published one (None until a first publish).
    current_version = models.ForeignKey(
        "StudyVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # When the blind of the whole study ended (after its database lock, under a signature:
    # randomization.study_unblinding); from then on the blinding policy hides no arm from the
    # study's people. Never set back: a blind once broken cannot be restored.
    unblinded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "studies"
        ordering = ["identifier"]

    def __str__(self) -> str:
        return self.identifier

    @property
    def audit_chain(self) -> str:
        return f"study:{self.identifier}"


# The descriptor set after the class, not through a ForeignKey subclass: the column and its
# migrations stay those of a plain foreign key.
Study.current_version = _LightVersion(Study._meta.get_field("current_version"))  # type: ignore[assignment]


class VersionStatus(models.TextChoices):
    DRAFT = "draft", pgettext_lazy("version status", "draft")
    PUBLISHED = "published", pgettext_lazy("version status", "published")


class StudyVersion(models.Model):
    """One version of a study's definition: its YAML text, the parsed definition, and how it
    differs from the version before it (the migration report)."""

    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    status = models.CharField(
        max_length=10, choices=VersionStatus.choices, default=VersionStatus.DRAFT
    )
    title = models.CharField(max_length=300)
    source_name = models.CharField(max_length=300)
    source_text = models.TextField()
    source_sha256 = models.CharField(max_length=64)
    definition = models.JSONField()
    based_on = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    migration_report = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["study", "number"], name="study_version_number_unique"),
        ]
        ordering = ["study", "number"]

    def __str__(self) -> str:
        return f"{self.study.identifier} v{self.number} ({self.status})"

    @property
    def is_published(self) -> bool:
        return self.status == VersionStatus.PUBLISHED

    def parsed(self) -> StudyDefinition:
        """Return the typed definition stored in this version (read once per content).

        Requests ask for it all the time; the definition is immutable (frozen dataclasses) and
        keyed by its content's hash, so a draft loaded again is never served stale.
        """
        if self.pk is None:
            return StudyDefinition.from_json(self.definition)
        key = (self.pk, self.source_sha256)
        found = _PARSED.get(key)
        if found is None:
            if len(_PARSED) >= _PARSED_SIZE:
                _PARSED.clear()
            found = _PARSED[key] = StudyDefinition.from_json(self.definition)
        return found


_PARSED: dict[tuple[int, str], StudyDefinition] = {}
_PARSED_SIZE = 64
