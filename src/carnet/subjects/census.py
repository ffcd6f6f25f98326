"""The subjects each study's audit chain must record (for `carnet audit verify`)."""

from __future__ import annotations

from django.db.models import Count, Min

from carnet.audit.coverage import AuditedData, register_audited_data
from carnet.audit.services import study_chain
from carnet.subjects.models import ScreeningEntry, Subject


def subjects_and_screening() -> list[AuditedData]:
    """Count each study's subjects and screening-log entries, with the oldest one's time."""
    found: list[AuditedData] = []
    for model, what in ((ScreeningEntry, "screening entries"), (Subject, "subjects")):
        rows = (
            model.objects.values("study__identifier")
            .annotate(count=Count("id"), oldest=Min("created_at"))
            .order_by()
        )
        found.extend(
            AuditedData(study_chain(row["study__identifier"]), what, row["count"], row["oldest"])
            for row in rows
        )
    return found


def register() -> None:
    register_audited_data(subjects_and_screening)
