"""The accounts the system audit chain must record (for `carnet audit verify`)."""

from __future__ import annotations

from carnet.accounts.models import User
from carnet.audit.coverage import AuditedData, register_audited_data
from carnet.audit.models import SYSTEM_CHAIN


def accounts() -> list[AuditedData]:
    """Count the accounts; creating one records it on the system chain."""
    # No creation time: an account's date_joined is set just before its event is written.
    return [AuditedData(SYSTEM_CHAIN, "accounts", User.objects.count())]


def register() -> None:
    register_audited_data(accounts)
