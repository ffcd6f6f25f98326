"""Signing in and staying signed in: passwords with throttling, TOTP and recovery codes, sessions.

Every failure, lockout and sign-in is an event of the system audit chain. Messages never reveal
whether an account exists: a wrong user name and a wrong password read the same, and an unknown
user name is throttled like a real one.
"""

from __future__ import annotations

import hmac
import io
import ipaddress
import secrets
from dataclasses import dataclass
from datetime import timedelta

from axes.models import AccessAttempt
from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib.auth import authenticate, login, logout, update_session_auth_hash
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.contrib.sessions.backends.base import SessionBase
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import Sum
from django.http import HttpRequest
from django.urls import reverse
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from carnet.accounts.models import User, UserSession
from carnet.accounts.permissions import memberships_in_force
from carnet.accounts.roles import UNBLINDED_ROLES, Role
from carnet.audit.services import Actor, SystemActor, audit_record
from carnet.core.clock import utc_now
from carnet.core.errors import CarnetError, ValidationError
from carnet.operations.system_settings import system_setting_value

RECOVERY_CODES = 10
# Roles whose holders must use a second factor unless a study says otherwise.
DEFAULT_TWO_FACTOR_ROLES = frozenset({Role.ADMINISTRATOR, Role.DATA_MANAGER} | UNBLINDED_ROLES)
LAST_ACTIVITY_KEY = "carnet_last_activity"
BACKGROUND_HEADER = "HTTP_X_CARNET_BACKGROUND"


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


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted_proxy(address: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> bool:
    return address is not None and any(
        address in ipaddress.ip_network(network) for network in settings.CARNET_TRUSTED_PROXIES
    )


def client_address(request: HttpRequest) -> str:
    """Return the address of the person's machine: the peer, or behind a declared proxy the
    address that proxy saw (``X-Forwarded-For``).

    Only proxies declared in CARNET_TRUSTED_PROXIES are believed: anyone else can write any
    ``X-Forwarded-For``. The list is read from the right (the nearest proxy), skipping declared
    proxies, so an address the client prepended itself is never taken.
    """
    peer = request.META.get("REMOTE_ADDR", "") or ""
    if not _trusted_proxy(_address(peer)):
        return peer
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    for hop in reversed([part.strip() for part in forwarded.split(",") if part.strip()]):
        address = _address(hop)
        if address is None:
            break  # a malformed hop: what lies before it cannot be trusted either
        if not _trusted_proxy(address):
            return str(address)
    return peer


def _client(request: HttpRequest) -> SystemActor:
    return SystemActor(label=f"sign-in from {client_address(request) or '?'}")


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
    # people without a second factor ask this on every request.
    in_force = memberships_in_force(user).order_by()
    for role, configured in in_force.values_list(
        "role", "study__current_version__definition__two_factor_roles"
    ):
        roles = frozenset(configured) if configured else DEFAULT_TWO_FACTOR_ROLES
        if role in roles:
            return True
    return False


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


def sign_in_password(request: HttpRequest, *, username: str, password: str) -> User | None:
    """Check a user name and password; return the person, or None.

    Raise LockedOut when the name is locked, or when its address has failed too often: that
    pause is the address's, not the account's (the person signs in from elsewhere, and tokens
    never depend on either).
    """
    username = username.strip()
    paused = address_pause_remaining(client_address(request))
    if paused:
        audit_record(
            actor=_client(request),
            action="login.refused_address",
            target=typed_name_target(username),
            new={"paused_seconds": paused},
        )
        raise LockedOut(paused)
    remaining = lockout_remaining(username)
    if remaining:
        audit_record(
            actor=_client(request),
            action="login.refused_locked",
            target=typed_name_target(username),
        )
        raise LockedOut(remaining)
    user = authenticate(request, username=username, password=password)
    if isinstance(user, User) and user.is_active:
        return user
    target = typed_name_target(username)
    audit_record(actor=_client(request), action="login.failed", target=target)
    remaining = lockout_remaining(username)
    if remaining:
        audit_record(
            actor=_client(request),
            action="login.locked",
            target=target,
            new={"failures": settings.AXES_FAILURE_LIMIT, "locked_seconds": remaining},
        )
        raise LockedOut(remaining)
    return None


def second_factor_verify(
    request: HttpRequest, *, user: User, code: str
) -> TOTPDevice | StaticDevice | None:
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
    audit_record(actor=_client(request), action="login.second_factor_failed", target=user)
    return None


def sign_in_complete(
    request: HttpRequest, *, user: User, device: TOTPDevice | StaticDevice | None = None
) -> None:
    """Open the session, record it and audit the sign-in."""
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    if device is not None:
        otp_login(request, device)
    request.session[LAST_ACTIVITY_KEY] = utc_now().timestamp()
    if request.session.session_key is None:
        request.session.save()
    UserSession.objects.update_or_create(
        session_key=request.session.session_key,
        defaults={
            "user": user,
            "last_seen_at": utc_now(),
            "ip_address": client_address(request)[:45],
            "user_agent": request.META.get("HTTP_USER_AGENT", "")[:200],
        },
    )
    if user.language:
        request.session["carnet_language"] = user.language
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


def sign_out(request: HttpRequest, *, reason: str = "signed out") -> None:
    """Close the current session."""
    user = request.user
    key = request.session.session_key
    logout(request)
    if key:
        UserSession.objects.filter(session_key=key, ended_at__isnull=True).update(
            ended_at=utc_now(), end_reason=reason
        )
    if isinstance(user, User):
        audit_record(actor=user, action="logout", target=user, new={"reason": reason})


def sessions_live(user: User) -> list[UserSession]:
    return list(UserSession.objects.filter(user=user, ended_at__isnull=True))


def sessions_end_others(request: HttpRequest, *, user: User, reason: str) -> int:
    """End every session of the user except this one; return how many were ended."""
    current = request.session.session_key
    others = [s.session_key for s in sessions_live(user) if s.session_key != current]
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


def session_activity(request: HttpRequest) -> bool:
    """Return False (and sign out) when the session sat idle too long; else record activity.

    Requests marked as background polling (header X-Carnet-Background) do not count as activity.
    """
    last = request.session.get(LAST_ACTIVITY_KEY)
    now = utc_now().timestamp()
    idle_limit = 60 * int(system_setting_value("session_idle_minutes"))
    if last is not None and now - float(last) > idle_limit:
        sign_out(request, reason="idle")
        return False
    if request.META.get(BACKGROUND_HEADER) != "1":
        request.session[LAST_ACTIVITY_KEY] = now
        key = request.session.session_key
        if key and (last is None or now - float(last) > 60):
            UserSession.objects.filter(session_key=key).update(last_seen_at=utc_now())
    return True


def _validated(password: str, user: User) -> None:
    try:
        validate_password(password, user)
    except DjangoValidationError as error:
        raise ValidationError(
            _("The password is refused: %(why)s") % {"why": " ".join(error.messages)}
        ) from error


@transaction.atomic
def password_change(request: HttpRequest, *, user: User, current: str, new: str) -> int:
    """Change one's password (current password required); end every other session."""
    if not user.check_password(current):
        audit_record(actor=user, action="password.change_refused", target=user)
        raise ValidationError(_("The current password is wrong."))
    _validated(new, user)
    user.set_password(new)
    user.save(update_fields=["password"])
    before = request.session.session_key
    update_session_auth_hash(request, user)
    # update_session_auth_hash gives the session a new key: the registry follows it, or this
    # session would vanish from "my sessions" and could no longer be ended from another one.
    after = request.session.session_key
    if before and after and before != after:
        UserSession.objects.filter(session_key=before).update(session_key=after)
    audit_record(
        actor=user, action="user.password_changed", target=user, new={"password_set": True}
    )
    return sessions_end_others(request, user=user, reason="password changed")


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


@transaction.atomic
def totp_enrol_confirm(
    request: HttpRequest, *, user: User, device: TOTPDevice, code: str
) -> list[str]:
    """Confirm enrolment with a first code; return the recovery codes, shown once."""
    if device.user_id != user.pk or device.confirmed:
        raise ValidationError(_("This enrolment is not yours or is already finished."))
    if not device.verify_token("".join(code.split())):
        audit_record(actor=user, action="two_factor.enrolment_refused", target=user)
        raise ValidationError(_("The code is wrong or expired; enter the code the app shows now."))
    TOTPDevice.objects.filter(user=user, confirmed=True).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    codes = _recovery_codes_replace(user)
    otp_login(request, device)
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
