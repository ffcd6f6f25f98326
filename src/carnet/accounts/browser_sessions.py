"""The browser's side of signing in: the request, the session and its cookie.

The sign-in services (sign_in.py) take plain values: the person, the client's address, the user
agent, the code typed. What only a browser request has (Django's login and logout, the session
and its keys, the OTP verification kept in it) is handled here, for the pages.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.contrib.auth import authenticate, login, logout, update_session_auth_hash
from django.http import HttpRequest
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from carnet.accounts.models import User
from carnet.accounts.selectors import active_user
from carnet.accounts.sign_in import (
    password_change,
    session_closed,
    session_idle_seconds,
    session_moved,
    session_opened,
    session_seen,
    sessions_end_others,
    sign_in_allowed,
    sign_in_failed,
    totp_enrol_confirm,
)
from carnet.core.clock import utc_now

LAST_ACTIVITY_KEY = "carnet_last_activity"
BACKGROUND_HEADER = "HTTP_X_CARNET_BACKGROUND"
# Activity is recorded at most this often (seconds): a page that only reads then writes nothing,
# not even its session (on SQLite a write takes the database's one write lock). An idle session
# may so end up to this long before its setting says.
ACTIVITY_RECORDED_EVERY = 60
# Between a right password and the second factor: who signs in, and where they go next.
PENDING_KEY = "carnet_pending_user"
NEXT_KEY = "carnet_next"


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


def password_sign_in(request: HttpRequest, *, username: str, password: str) -> User | None:
    """Check a user name and password; return the active person, or None (audited).

    Raise LockedOut when the name is locked or the address has failed too often. The password
    is checked through Django's ``authenticate``, which needs the request: django-axes counts
    the failures there.
    """
    username = username.strip()
    client = client_address(request)
    sign_in_allowed(username=username, client=client)
    user = authenticate(request, username=username, password=password)
    if isinstance(user, User) and user.is_active:
        return user
    sign_in_failed(username=username, client=client)
    return None


def second_factor_wait(request: HttpRequest, *, user: User, next_url: str) -> None:
    """Remember, in a new session, who gave the right password and where they go next."""
    request.session.cycle_key()
    request.session[PENDING_KEY] = user.pk
    request.session[NEXT_KEY] = next_url


def second_factor_pending(request: HttpRequest) -> User | None:
    """Return the active person whose password was right and whose second factor is awaited."""
    return active_user(int(request.session.get(PENDING_KEY) or 0))


def next_after_sign_in(request: HttpRequest, default: str) -> str:
    """Return where the person asked to go before the second factor, else ``default``."""
    return str(request.session.get(NEXT_KEY) or default)


def sign_in_complete(
    request: HttpRequest, *, user: User, device: TOTPDevice | StaticDevice | None = None
) -> None:
    """Open the session (with the second factor that passed, if any), record it and audit it."""
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    if device is not None:
        otp_login(request, device)
    request.session[LAST_ACTIVITY_KEY] = utc_now().timestamp()
    if request.session.session_key is None:
        request.session.save()
    if user.language:
        request.session["carnet_language"] = user.language
    session_opened(
        user=user,
        session_key=str(request.session.session_key),
        client=client_address(request),
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
        device=device,
    )


def sign_out(request: HttpRequest, *, reason: str = "signed out") -> None:
    """Close the current session."""
    user = request.user
    key = request.session.session_key
    logout(request)
    session_closed(user=user if isinstance(user, User) else None, session_key=key, reason=reason)


def session_activity(request: HttpRequest) -> bool:
    """Return False (and sign out) when the session sat idle too long; else record activity.

    Requests marked as background polling (header X-Carnet-Background) do not count as activity.
    """
    last = request.session.get(LAST_ACTIVITY_KEY)
    now = utc_now().timestamp()
    if last is not None and now - float(last) > session_idle_seconds():
        sign_out(request, reason="idle")
        return False
    recorded_long_ago = last is None or now - float(last) > ACTIVITY_RECORDED_EVERY
    if request.META.get(BACKGROUND_HEADER) != "1" and recorded_long_ago:
        request.session[LAST_ACTIVITY_KEY] = now
        key = request.session.session_key
        if key:
            session_seen(key)
    return True


def other_sessions_end(request: HttpRequest, *, user: User, reason: str) -> int:
    """End every session of the person but this one; return how many were ended."""
    return sessions_end_others(user=user, keep=request.session.session_key, reason=reason)


def password_change_here(request: HttpRequest, *, user: User, current: str, new: str) -> int:
    """Change the person's password, keep this session signed in and end the others; return
    how many others were ended."""
    before = request.session.session_key
    ended = password_change(user=user, current=current, new=new, keep=before)
    # The session's hash of the password must follow, or this session would end too; Django
    # gives it a new key on the way, which the registry follows.
    update_session_auth_hash(request, user)
    session_moved(before=before, after=request.session.session_key)
    return ended


def totp_enrol_finish(
    request: HttpRequest, *, user: User, device: TOTPDevice, code: str
) -> list[str]:
    """Confirm the enrolment with its first code and count this session as verified by it;
    return the recovery codes."""
    codes = totp_enrol_confirm(user=user, device=device, code=code)
    otp_login(request, device)
    return codes
