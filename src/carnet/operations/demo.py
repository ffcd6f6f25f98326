"""The demo installation: what `carnet demo` loads, idempotently. Later issues extend it."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction

from carnet.accounts.models import User
from carnet.accounts.services import user_create, user_set_password
from carnet.audit.services import SystemActor

ADMIN_USERNAME = "admin"
PASSWORD_FILE = "demo-password"  # noqa: S105 (a file name, not a secret)


@dataclass(frozen=True)
class DemoAccount:
    username: str
    password: str
    created: bool


def _password_file() -> Path:
    return Path(settings.DATA_DIR) / PASSWORD_FILE


def demo_password(requested: str | None) -> str:
    """Return the demo password: the one asked for, the one kept in the data directory, or new."""
    if requested:
        return requested
    kept = _password_file()
    if kept.exists():
        return kept.read_text(encoding="utf-8").strip()
    # Long enough for the password rules, readable enough to type.
    return "-".join(secrets.token_hex(3) for _ in range(4))


@transaction.atomic
def demo_load(*, actor: SystemActor, password: str | None = None) -> list[DemoAccount]:
    """Create the demo accounts that do not exist yet; set their password when one is given."""
    chosen = demo_password(password)
    accounts = []
    admin = User.objects.filter(username=ADMIN_USERNAME).first()
    if admin is None:
        user_create(
            actor=actor,
            username=ADMIN_USERNAME,
            password=chosen,
            full_name="Demo administrator",
            is_administrator=True,
        )
        accounts.append(DemoAccount(ADMIN_USERNAME, chosen, created=True))
    else:
        if password or not admin.check_password(chosen):
            user_set_password(actor=actor, user=admin, password=chosen)
        accounts.append(DemoAccount(ADMIN_USERNAME, chosen, created=False))
    # Kept so that `make run` can tell the same password every time; demo data only.
    kept = _password_file()
    kept.write_text(chosen + "\n", encoding="utf-8")
    kept.chmod(0o600)
    return accounts
