"""The safety data each study's audit chain must record (for `carnet audit verify`)."""

from __future__ import annotations

from django.db.models import Count, Min

from carnet.audit.coverage import AuditedData, register_audited_data
from carnet.audit.services import study_chain
from carnet.safety.models import SaeReport


def sae_reports() -> list[AuditedData]:
    """Count each study's SAE reports, with the oldest one's time."""
    rows = (
        SaeReport.objects.values("study__identifier")
        .annotate(count=Count("id"), oldest=Min("created_at"))
        .order_by()
    )
    return [
        AuditedData(
            study_chain(row["study__identifier"]), "SAE reports", row["count"], row["oldest"]
        )
        for row in rows
    ]


def register() -> None:
    register_audited_data(sae_reports)
