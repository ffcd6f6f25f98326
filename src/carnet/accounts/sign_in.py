"""Signing in and staying signed in: passwords with throttling, TOTP and recovery codes, sessions.

Every failure, lockout and sign-in is an event of the system audit chain. Messages never reveal
whether an account exists: a wrong user name and a wrong password read the same, and an unknown
user name is throttled like a real one.

These services take plain values (the person, the client's address, the code typed) and never a
request: the pages' handling of the request and its session lives in browser_sessions.py.
"""

from __future__ import annotations

import hmac
import io
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from axes.models import AccessAttempt
from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.contrib.sessions.backends.base import SessionBase
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import QuerySet, Sum
from django.db.models.fields.json import KeyTransform
from django.urls import reverse
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from carnet.accounts.models import Membership, User, UserSession
from carnet.accounts.permissions import memberships_in_force_now, roles_remember
from carnet.accounts.roles import UNBLINDED_ROLES, Role
from carnet.audit.services import Actor, SystemActor, audit_record
from carnet.core.clock import utc_now
from carnet.core.errors import CarnetError, ValidationError
from carnet.db.prepared import Prepared
from carnet.runtime_settings.services import system_setting_value

RECOVERY_CODES = 10
# Roles whose holders must use a second factor unless a study says otherwise.
DEFAULT_TWO_FACTOR_ROLES = frozenset(
    {Role.ADMINISTRATOR, Role.DATA_MANAGER, Role.PHARMACOVIGILANCE} | UNBLINDED_ROLES
)


class LockedOut(CarnetError):
    """Too many failed sign-ins for this user name; ``retry_after`` is in seconds."""

    def __init__(self, retry_after: int) -> None:
        minutes = max(1, round(retry_after / 60))
        super().__init__(
            ngettext(
                "Too many failed attempts: sign-in is paused for about %(minutes)s minute. "
                "Try again later, or ask an administrator to lift the lock.",
                "Too many failed attempts: sign-in is paused for about %(minutes)s minutes. "
                "Try again later, or ask an administrator to lift the lock.",
                minutes,
            )
            % {"minutes": minutes}
        )
        self.retry_after = retry_after


def typed_name_target(username: str) -> User | tuple[str, str]:
    """Return what an audit event of a sign-in attempt names: the account when one has this
    user name, else a keyed hash of what was typed.

    People type passwords into the user name field; the audit trail is kept for ever and cannot
    be edited, so a name that is not an account is never written in clear. The hash (HMAC with
    the secret key) still lets an administrator see that attempts repeat the same name.
    """
    user = User.objects.filter(username=username).first()
    if user is not None:
        return user
    digest = hmac.new(
        settings.SECRET_KEY.encode("utf-8"), username.encode("utf-8"), "sha256"
    ).hexdigest()
    return ("accounts.unknown_user_name", f"hmac-sha256:{digest[:32]}")


def _lock_period() -> timedelta:
    period = settings.AXES_COOLOFF_TIME
    return period if isinstance(period, timedelta) else timedelta(hours=float(period))


def address_failures(address: str) -> int:
    """Return the failed sign-ins from one address that still count (as the name's failures
    do: while each comes within the lock period of the previous one)."""
    total = AccessAttempt.objects.filter(
        ip_address=address, attempt_time__gt=utc_now() - _lock_period()
    ).aggregate(total=Sum("failures_since_start"))["total"]
    return int(total or 0)


def address_pause_remaining(address: str) -> int:
    """Return the seconds sign-in stays paused for this address (0 when it is not paused)."""
    if not address or address_failures(address) < settings.CARNET_ADDRESS_FAILURE_LIMIT:
        return 0
    last = (
        AccessAttempt.objects.filter(ip_address=address)
        .order_by("-attempt_time")
        .values_list("attempt_time", flat=True)
        .first()
    )
    if last is None:
        return 0
    return max(0, int((last + _lock_period() - utc_now()).total_seconds()))


def lockout_remaining(username: str) -> int:
    """Return the seconds left of a lock on this user name (0 when it is not locked)."""
    attempt = AccessAttempt.objects.filter(username=username).order_by("-attempt_time").first()
    return 0 if attempt is None else _seconds_left(attempt)


def _seconds_left(attempt: AccessAttempt) -> int:
    if attempt.failures_since_start < settings.AXES_FAILURE_LIMIT:
        return 0
    remaining = attempt.attempt_time + _lock_period() - utc_now()
    return max(0, int(remaining.total_seconds()))


def two_factor_enrolled(user: User) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def two_factor_required(user: User) -> bool:
    """Return whether this person must use a second factor (administrators, data managers,
    unblinded roles, and whatever roles their studies add)."""
    if user.is_superuser:
        return True
    # Only the study's list of roles is read, not its whole definition: pages and tokens of
    # people without a second factor ask this on every request, so the read is prepared. The
    # same read tells the request the person's roles in each study (the permission checks then
    # read nothing).
    now = utc_now()
    today = now.date()
    in_force = _IN_FORCE_WITH_ROLES(user.pk, today, now) if user.is_active else []
    roles_remember(user, [(m.study_id, m.role, m.site_id) for m in in_force], on=today)
    for membership in in_force:
        configured = membership.two_factor_roles  # type: ignore[attr-defined]
        roles = frozenset(configured) if configured else DEFAULT_TWO_FACTOR_ROLES
        if membership.role in roles:
            return True
    return False


def _in_force_with_roles(user_id: int, day: date, now: datetime) -> QuerySet[Membership]:
    """The memberships in force, each with the roles its study asks a second factor of."""
    return (
        memberships_in_force_now(user_id, day, now)
        .only("study_id", "role", "site_id")
        .annotate(
            two_factor_roles=KeyTransform("two_factor_roles", "study__current_version__definition")
        )
        .order_by()
    )


_IN_FORCE_WITH_ROLES = Prepared(_in_force_with_roles, int, date, datetime)


def token_second_factor_missing(user: User, *, enrolled: bool | None = None) -> bool:
    """Return whether a token of this person must wait for a second factor: the person must use
    one and has not enrolled it.

    A token is a credential of its own, used without any session that could have asked for the
    code; the enrolment is what proves the person holds the second factor. ``enrolled`` is
    passed when the token's query has already read it.
    """
    if enrolled is None:
        enrolled = two_factor_enrolled(user)
    return not enrolled and two_factor_required(user)


def _client(address: str) -> SystemActor:
    return SystemActor(label=f"sign-in from {address or '?'}")


def sign_in_allowed(*, username: str, client: str) -> None:
    """Refuse with LockedOut (audited) a sign-in attempt for a locked user name, or from an
    address (``client``) that has failed too often.

    The address's pause is the address's, not the account's: the person signs in from
    elsewhere, and tokens never depend on either.
    """
    paused = address_pause_remaining(client)
    if paused:
        audit_record(
            actor=_client(client),
            action="login.refused_address",
            target=typed_name_target(username),
            new={"paused_seconds": paused},
        )
        raise LockedOut(paused)
    remaining = lockout_remaining(username)
    if remaining:
        audit_record(
            actor=_client(client), action="login.refused_locked", target=typed_name_target(username)
        )
        raise LockedOut(remaining)


def sign_in_failed(*, username: str, client: str) -> None:
    """Record a wrong user name or password; raise LockedOut when this failure locked the name.

    The throttle (django-axes) has counted the failure already, as the password was checked.
    """
    target = typed_name_target(username)
    audit_record(actor=_client(client), action="login.failed", target=target)
    remaining = lockout_remaining(username)
    if remaining:
        audit_record(
            actor=_client(client),
            action="login.locked",
            target=target,
            new={"failures": settings.AXES_FAILURE_LIMIT, "locked_seconds": remaining},
        )
        raise LockedOut(remaining)


def second_factor_verify(*, user: User, code: str, client: str) -> TOTPDevice | StaticDevice | None:
    """Return the device that accepts a TOTP or recovery code, or None (audited)."""
    code = "".join(code.split()).lower()
    for device in TOTPDevice.objects.filter(user=user, confirmed=True):
        # verify_token refuses a code already used (it remembers the last time step).
        if code.isdigit() and device.verify_token(code):
            return device
    for device in StaticDevice.objects.filter(user=user, confirmed=True):
        if device.verify_token(code):  # a recovery code is deleted once used
            audit_record(actor=user, action="login.recovery_code_used", target=user)
            return device
    audit_record(actor=_client(client), action="login.second_factor_failed", target=user)
    return None


def session_opened(
    *,
    user: User,
    session_key: str,
    client: str,
    user_agent: str,
    device: TOTPDevice | StaticDevice | None = None,
) -> None:
    """Record a new session of the person (where from, which browser) and audit the sign-in."""
    UserSession.objects.update_or_create(
        session_key=session_key,
        defaults={
            "user": user,
            "last_seen_at": utc_now(),
            "ip_address": client[:45],
            "user_agent": user_agent[:200],
        },
    )
    second = (
        "none"
        if device is None
        else ("TOTP" if isinstance(device, TOTPDevice) else "recovery code")
    )
    audit_record(actor=user, action="login.succeeded", target=user, new={"second_factor": second})


def session_end(session_key: str, *, reason: str) -> None:
    """End a stored session (its cookie stops working) and mark it in the registry."""
    from importlib import import_module

    engine = import_module(settings.SESSION_ENGINE)
    store: SessionBase = engine.SessionStore(session_key=session_key)
    store.delete()
    UserSession.objects.filter(session_key=session_key, ended_at__isnull=True).update(
        ended_at=utc_now(), end_reason=reason
    )


def session_closed(*, user: User | None, session_key: str | None, reason: str) -> None:
    """Mark a session that was just closed in the registry and audit the person's sign-out."""
    if session_key:
        UserSession.objects.filter(session_key=session_key, ended_at__isnull=True).update(
            ended_at=utc_now(), end_reason=reason
        )
    if user is not None:
        audit_record(actor=user, action="logout", target=user, new={"reason": reason})


def session_seen(session_key: str) -> None:
    """Record that a session is in use now (shown in the person's list of sessions)."""
    UserSession.objects.filter(session_key=session_key).update(last_seen_at=utc_now())


def session_moved(*, before: str | None, after: str | None) -> None:
    """Follow a session whose key changed (a new password gives it one) in the registry, so it
    still shows in "my sessions" and can still be ended from another one."""
    if before and after and before != after:
        UserSession.objects.filter(session_key=before).update(session_key=after)


def session_idle_seconds() -> int:
    """Return how long a session may sit idle before it ends (the session_idle_minutes setting)."""
    return 60 * int(system_setting_value("session_idle_minutes"))


def sessions_live(user: User) -> list[UserSession]:
    return list(UserSession.objects.filter(user=user, ended_at__isnull=True))


def sessions_end_others(*, user: User, keep: str | None, reason: str) -> int:
    """End every session of the person but ``keep`` (the one asking); return how many."""
    others = [s.session_key for s in sessions_live(user) if s.session_key != keep]
    for key in others:
        session_end(key, reason=reason)
    if others:
        audit_record(
            actor=user,
            action="sessions.ended",
            target=user,
            new={"count": len(others), "reason": reason},
        )
    return len(others)


def _validated(password: str, user: User) -> None:
    try:
        validate_password(password, user)
    except DjangoValidationError as error:
        raise ValidationError(
            _("The password is refused: %(why)s") % {"why": " ".join(error.messages)}
        ) from error


def password_change(*, user: User, current: str, new: str, keep: str | None) -> int:
    """Change one's password (the current one required) and end every other session of the
    person but ``keep`` (the one asking); return how many were ended.

    A wrong current password is refused, and audited outside the change's transaction: the
    refusal's rollback must not take its audit event with it.
    """
    if not user.check_password(current):
        audit_record(actor=user, action="password.change_refused", target=user)
        raise ValidationError(_("The current password is wrong."))
    return _password_replace(user=user, new=new, keep=keep)


@transaction.atomic
def _password_replace(*, user: User, new: str, keep: str | None) -> int:
    _validated(new, user)
    user.set_password(new)
    user.save(update_fields=["password"])
    audit_record(
        actor=user, action="user.password_changed", target=user, new={"password_set": True}
    )
    return sessions_end_others(user=user, keep=keep, reason="password changed")


def password_setting_link(user: User) -> str:
    """Return the path where a person sets their password (valid for PASSWORD_RESET_TIMEOUT)."""
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    return reverse("accounts:password_set", args=[uid, default_token_generator.make_token(user)])


def password_link_user(uidb64: str, token: str) -> User | None:
    """Return the person a password link is for, if the link is still valid."""
    try:
        user = User.objects.get(pk=int(force_str(urlsafe_base64_decode(uidb64))))
    except (ValueError, TypeError, OverflowError, User.DoesNotExist):
        return None
    return user if user.is_active and default_token_generator.check_token(user, token) else None


@transaction.atomic
def password_set_from_link(*, user: User, new: str) -> None:
    """Set a password from a valid link (the link then stops working: the hash changed)."""
    _validated(new, user)
    user.set_password(new)
    user.save(update_fields=["password"])
    audit_record(actor=user, action="user.password_set", target=user, new={"password_set": True})


@dataclass(frozen=True)
class Enrolment:
    device: TOTPDevice
    secret_base32: str
    qr_svg: str


def totp_enrol_start(*, user: User) -> Enrolment:
    """Start TOTP enrolment: a new unconfirmed device, its secret and its QR code."""
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    device = TOTPDevice.objects.create(user=user, name="Authenticator", confirmed=False)
    return totp_enrolment(device)


def totp_enrolment(device: TOTPDevice) -> Enrolment:
    import base64

    # Imported here: qrcode brings Pillow, a third of a second of every process's start.
    import qrcode
    import qrcode.image.svg

    secret = base64.b32encode(device.bin_key).decode("ascii")
    image = qrcode.make(device.config_url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
    buffer = io.BytesIO()
    image.save(buffer)
    return Enrolment(device=device, secret_base32=secret, qr_svg=buffer.getvalue().decode("utf-8"))


def totp_enrol_confirm(*, user: User, device: TOTPDevice, code: str) -> list[str]:
    """Confirm enrolment with a first code; return the recovery codes, shown once.

    A wrong code is refused, and audited outside the enrolment's transaction: the refusal's
    rollback must not take its audit event with it.
    """
    if device.user_id != user.pk or device.confirmed:
        raise ValidationError(_("This enrolment is not yours or is already finished."))
    if not device.verify_token("".join(code.split())):
        audit_record(actor=user, action="two_factor.enrolment_refused", target=user)
        raise ValidationError(_("The code is wrong or expired; enter the code the app shows now."))
    return _totp_enrolment_finish(user=user, device=device)


@transaction.atomic
def _totp_enrolment_finish(*, user: User, device: TOTPDevice) -> list[str]:
    TOTPDevice.objects.filter(user=user, confirmed=True).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    codes = _recovery_codes_replace(user)
    audit_record(
        actor=user, action="two_factor.enrolled", target=user, new={"recovery_codes": len(codes)}
    )
    return codes


def _recovery_codes_replace(user: User) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name="Recovery codes", confirmed=True)
    codes = [f"{secrets.token_hex(3)}-{secrets.token_hex(3)}" for _ in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return codes


@transaction.atomic
def recovery_codes_regenerate(*, user: User) -> list[str]:
    """Replace the recovery codes (the old ones stop working)."""
    if not two_factor_enrolled(user):
        raise ValidationError(_("Enrol an authenticator app first."))
    codes = _recovery_codes_replace(user)
    audit_record(actor=user, action="two_factor.recovery_codes_replaced", target=user)
    return codes


def recovery_codes_left(user: User) -> int:
    return StaticToken.objects.filter(device__user=user).count()


@dataclass(frozen=True)
class Lockout:
    username: str
    failures: int
    last_attempt: object
    remaining_seconds: int


def lockouts_list() -> list[Lockout]:
    """Return the user names locked now, most recent first."""
    found = []
    for attempt in AccessAttempt.objects.filter(
        failures_since_start__gte=settings.AXES_FAILURE_LIMIT
    ).order_by("-attempt_time"):
        remaining = _seconds_left(attempt)  # the row in hand: no second query per name
        if remaining:
            found.append(
                Lockout(
                    attempt.username, attempt.failures_since_start, attempt.attempt_time, remaining
                )
            )
    return found


@transaction.atomic
def lockout_lift(*, actor: Actor, username: str, reason: str) -> int:
    """Lift the lock on a user name (an administrator's decision, audited); return how many
    failed attempts were cleared."""
    if not reason.strip():
        raise ValidationError(_("A reason is required to lift a lock."))
    removed = axes_reset(username=username)
    audit_record(
        actor=actor,
        action="login.unlocked",
        target=typed_name_target(username),
        new={"attempts_cleared": removed},
        reason=reason.strip(),
    )
    return removed
