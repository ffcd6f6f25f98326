"""The captured data each study's audit chain must record (for `carnet audit verify`)."""

from __future__ import annotations

from django.db.models import Count, Min

from carnet.audit.coverage import AuditedData, register_audited_data
from carnet.audit.services import study_chain
from carnet.capture.models import FormInstance, ItemValue


def form_instances_and_values() -> list[AuditedData]:
    """Count each study's form instances (with the oldest one's time) and item values."""
    instances = (
        FormInstance.objects.values("subject__study__identifier")
        .annotate(count=Count("id"), oldest=Min("created_at"))
        .order_by()
    )
    values = (
        ItemValue.objects.values("form_instance__subject__study__identifier")
        .annotate(count=Count("id"))
        .order_by()
    )
    return [
        *(
            AuditedData(
                study_chain(row["subject__study__identifier"]),
                "form instances",
                row["count"],
                row["oldest"],
            )
            for row in instances
        ),
        *(
            AuditedData(
                study_chain(row["form_instance__subject__study__identifier"]),
                "item values",
                row["count"],
            )
            for row in values
        ),
    ]


def register() -> None:
    register_audited_data(form_instances_and_values)
