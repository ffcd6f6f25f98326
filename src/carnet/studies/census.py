"""The study definitions each study's audit chain must record (for `carnet audit verify`)."""

from __future__ import annotations

from django.db.models import Count

from carnet.audit.coverage import AuditedData, register_audited_data
from carnet.audit.services import study_chain
from carnet.studies.models import StudyVersion


def study_versions() -> list[AuditedData]:
    """Count each study's versions; loading one records it on the study's chain."""
    # No creation time: a version is written in the transaction of its first event.
    counts = StudyVersion.objects.values("study__identifier").annotate(count=Count("id")).order_by()
    return [
        AuditedData(study_chain(row["study__identifier"]), "study versions", row["count"])
        for row in counts
    ]


def register() -> None:
    register_audited_data(study_versions)
