"""What captured data each change of a study amendment touches (for the migration report)."""

from __future__ import annotations

from carnet.capture.models import FormInstance, ItemValue
from carnet.studies.definition.diff import Change
from carnet.studies.impact import DataTouched, register_data_counter


def captured_data(study_identifier: str, change: Change) -> list[DataTouched]:
    """Count the item values an item change touches, the form instances a form change touches."""
    if change.kind == "item":
        count = ItemValue.objects.filter(
            item_oid=change.key,
            form_instance__subject__study__identifier=study_identifier,
            removed=False,
        ).count()
        return [DataTouched("item values", count)]
    if change.kind == "form":
        count = FormInstance.objects.filter(
            form=change.name, subject__study__identifier=study_identifier
        ).count()
        return [DataTouched("form instances", count)]
    return []


def register() -> None:
    register_data_counter(captured_data)
