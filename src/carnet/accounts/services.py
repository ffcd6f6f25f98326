"""Writes on accounts. Each service is atomic and writes its audit event in the same transaction."""

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction

from carnet.accounts.models import User
from carnet.audit.services import Actor, audit_record
from carnet.core.errors import ValidationError


@transaction.atomic
def user_create(
    *,
    actor: Actor,
    username: str,
    password: str | None,
    email: str = "",
    full_name: str = "",
    is_administrator: bool = False,
) -> User:
    """Create a personal account and record it in the system audit chain."""
    username = username.strip()
    if not username:
        raise ValidationError("The user name is empty.")
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError(f"The user name {username!r} is already taken.")
    user = User(
        username=username,
        email=email,
        full_name=full_name,
        is_staff=is_administrator,
        is_superuser=is_administrator,
    )
    if password is None:
        user.set_unusable_password()
    else:
        try:
            validate_password(password, user)
        except DjangoValidationError as error:
            raise ValidationError("The password is refused: " + " ".join(error.messages)) from error
        user.set_password(password)
    user.save()
    audit_record(
        actor=actor,
        action="user.created",
        target=user,
        new={
            "username": user.username,
            "email": user.email,
            "full_name": user.full_name,
            "administrator": is_administrator,
            "password_set": password is not None,
        },
    )
    return user


@transaction.atomic
def user_set_password(*, actor: Actor, user: User, password: str) -> None:
    """Change a password (checked against the password rules); the audit event holds no secret."""
    try:
        validate_password(password, user)
    except DjangoValidationError as error:
        raise ValidationError("The password is refused: " + " ".join(error.messages)) from error
    user.set_password(password)
    user.save(update_fields=["password"])
    audit_record(
        actor=actor, action="user.password_changed", target=user, new={"password_set": True}
    )
