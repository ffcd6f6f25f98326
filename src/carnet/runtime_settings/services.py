"""The runtime settings Carnet knows, their types, bounds and defaults, and how to change them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction

from carnet.audit.services import Actor, audit_record
from carnet.core.errors import ValidationError
from carnet.runtime_settings.models import SystemSetting


@dataclass(frozen=True)
class SettingDefinition:
    key: str
    kind: type
    default: Any
    description: str
    minimum: int | None = None
    maximum: int | None = None

    def parse(self, raw: Any) -> Any:
        """Return ``raw`` converted to this setting's type, or raise naming the setting."""
        if self.kind is int:
            try:
                value = int(raw)
            except (TypeError, ValueError) as error:
                raise ValidationError(f"{self.key} must be a whole number, not {raw!r}.") from error
            if self.minimum is not None and value < self.minimum:
                raise ValidationError(f"{self.key} must be at least {self.minimum}, not {value}.")
            if self.maximum is not None and value > self.maximum:
                raise ValidationError(f"{self.key} must be at most {self.maximum}, not {value}.")
            return value
        if self.kind is bool:
            text = str(raw).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off"}:
                return False
            raise ValidationError(f"{self.key} must be yes or no, not {raw!r}.")
        text = str(raw).strip()
        if self.maximum is not None and len(text) > self.maximum:
            raise ValidationError(f"{self.key} must be at most {self.maximum} characters long.")
        return text


DEFINITIONS: dict[str, SettingDefinition] = {
    definition.key: definition
    for definition in [
        SettingDefinition(
            "organisation_name", str, "", "Name of the data centre shown on pages.", maximum=200
        ),
        SettingDefinition(
            "session_idle_minutes", int, 30, "Idle time after which a session ends.", 5, 480
        ),
        SettingDefinition(
            "upload_max_megabytes", int, 50, "Largest file a user may upload.", 1, 2048
        ),
        SettingDefinition(
            "backup_keep",
            int,
            14,
            "Number of backups `carnet backup` keeps in the data directory.",
            1,
            1000,
        ),
        SettingDefinition(
            "import_max_megabytes",
            int,
            512,
            "Largest file a data import reads (larger files are refused before being read).",
            1,
            8192,
        ),
    ]
}


def _definition(key: str) -> SettingDefinition:
    try:
        return DEFINITIONS[key]
    except KeyError:
        known = ", ".join(sorted(DEFINITIONS))
        raise ValidationError(
            f"There is no setting named {key!r}; known settings: {known}."
        ) from None


def system_setting_value(key: str) -> Any:
    """Return the current value of a runtime setting (its default until someone changes it)."""
    definition = _definition(key)
    stored = SystemSetting.objects.filter(key=key).values_list("value", flat=True).first()
    return definition.default if stored is None else stored


def system_settings_list() -> list[tuple[SettingDefinition, Any]]:
    """Return every runtime setting with its current value."""
    stored = dict(SystemSetting.objects.values_list("key", "value"))
    return [(d, stored.get(d.key, d.default)) for d in DEFINITIONS.values()]


@transaction.atomic
def system_setting_change(*, actor: Actor, key: str, value: Any, reason: str) -> Any:
    """Change a runtime setting and record old and new values in the system chain."""
    definition = _definition(key)
    if not reason.strip():
        raise ValidationError("A reason is required to change a setting.")
    new_value = definition.parse(value)
    row = SystemSetting.objects.select_for_update().filter(key=key).first()
    old_value = definition.default if row is None else row.value
    if old_value == new_value:
        return new_value
    SystemSetting.objects.update_or_create(key=key, defaults={"value": new_value})
    audit_record(
        actor=actor,
        action="setting.changed",
        # The target type the audit trail has always named settings by (the table's name).
        target=("operations.systemsetting", key),
        old={key: old_value},
        new={key: new_value},
        reason=reason.strip(),
    )
    return new_value
