"""Runtime settings are checked and every change audited."""

from __future__ import annotations

import pytest

from carnet.audit.models import AuditEvent
from carnet.audit.services import SystemActor
from carnet.core.errors import ValidationError
from carnet.runtime_settings.services import system_setting_change, system_setting_value

pytestmark = pytest.mark.django_db


def test_a_setting_change_records_old_new_and_why(system_actor: SystemActor) -> None:
    system_setting_change(actor=system_actor, key="session_idle_minutes", value="20", reason="DPO")
    assert system_setting_value("session_idle_minutes") == 20
    event = AuditEvent.objects.get(action="setting.changed")
    assert (event.old, event.new, event.reason) == (
        {"session_idle_minutes": 30},
        {"session_idle_minutes": 20},
        "DPO",
    )


@pytest.mark.parametrize(
    ("key", "value", "reason", "message"),
    [
        ("session_idle_minutes", "2", "x", "session_idle_minutes must be at least 5, not 2."),
        ("session_idle_minutes", "soon", "x", "session_idle_minutes must be a whole number"),
        ("colour", "blue", "x", "There is no setting named 'colour'"),
        ("backup_keep", "3", "  ", "A reason is required"),
    ],
)
def test_a_bad_setting_is_refused_and_nothing_is_written(
    system_actor: SystemActor, key: str, value: str, reason: str, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        system_setting_change(actor=system_actor, key=key, value=value, reason=reason)
    assert not AuditEvent.objects.exists()
