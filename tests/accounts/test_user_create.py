"""Creating accounts: password rules, unique names, an audit event, nothing half-written."""

from __future__ import annotations

import pytest

from carnet.accounts.models import User
from carnet.accounts.services import user_create
from carnet.audit.models import AuditEvent
from carnet.audit.services import SystemActor
from carnet.core.errors import ValidationError

pytestmark = pytest.mark.django_db


def test_passwords_are_hashed_with_a_strong_algorithm_in_production() -> None:
    from carnet.config.settings import base

    assert base.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short pass", "too short"),
        ("password1234", "too common"),
        ("claire.dupont.2026", "too similar"),
    ],
)
def test_weak_passwords_are_refused(system_actor: SystemActor, password: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        user_create(actor=system_actor, username="claire.dupont", password=password)
    assert not User.objects.exists()
    assert not AuditEvent.objects.exists()


def test_a_taken_user_name_is_refused_whatever_its_case(system_actor: SystemActor) -> None:
    user_create(actor=system_actor, username="Claire", password=None)
    with pytest.raises(ValidationError, match="already taken"):
        user_create(actor=system_actor, username="claire", password=None)
    assert User.objects.count() == 1


def test_a_password_hashed_by_the_caller_is_kept_and_still_checked_against_the_rules(
    system_actor: SystemActor,
) -> None:
    from django.contrib.auth.hashers import make_password

    hashed = make_password("a long enough password")
    user = user_create(
        actor=system_actor,
        username="claire",
        password="a long enough password",
        password_hash=hashed,
    )
    assert user.password == hashed
    assert user.check_password("a long enough password")
    with pytest.raises(ValidationError, match="password"):
        user_create(
            actor=system_actor,
            username="paul",
            password="short",
            password_hash=make_password("short"),
        )
