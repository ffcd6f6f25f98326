"""Writes on accounts. Each service is atomic and writes its audit event in the same transaction."""

import re
import secrets
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils.translation import gettext as _
from django_otp.plugins.otp_totp.models import TOTPDevice

from carnet.accounts.models import ApiToken, Centre, Membership, StudySite, User
from carnet.accounts.permissions import memberships_in_force, permissions_forget
from carnet.accounts.roles import SITE_ROLES, Role
from carnet.accounts.sign_in import two_factor_required
from carnet.audit.services import Actor, audit_record
from carnet.core.clock import utc_now
from carnet.core.errors import ValidationError
from carnet.core.hashing import sha256_hex
from carnet.db.prepared import Prepared
from carnet.studies.models import BULKY_VERSION_FIELDS, Study


@transaction.atomic
def user_create(
    *,
    actor: Actor,
    username: str,
    password: str | None,
    email: str = "",
    full_name: str = "",
    is_administrator: bool = False,
    reason: str = "",
    password_hash: str = "",
) -> User:
    """Create a personal account and record it in the system audit chain.

    ``password_hash`` is the hash Django's ``make_password(password)`` gave, for a caller that
    gives many accounts one password: the demo makes one Argon2 hash for its twenty accounts
    rather than twenty (each takes a tenth of a second of CPU, by design). The password itself
    is still checked against the rules."""
    username = username.strip()
    if not username:
        raise ValidationError(_("The user name is empty."))
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError(
            _("The user name %(username)s is already taken.") % {"username": repr(username)}
        )
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
            raise ValidationError(
                _("The password is refused: %(why)s") % {"why": " ".join(error.messages)}
            ) from error
        if password_hash:
            user.password = password_hash
        else:
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
        reason=reason.strip(),
    )
    return user


@transaction.atomic
def user_set_password(*, actor: Actor, user: User, password: str, reason: str = "") -> None:
    """Change a password (checked against the password rules); the audit event holds no secret."""
    try:
        validate_password(password, user)
    except DjangoValidationError as error:
        raise ValidationError(
            _("The password is refused: %(why)s") % {"why": " ".join(error.messages)}
        ) from error
    user.set_password(password)
    user.save(update_fields=["password"])
    audit_record(
        actor=actor,
        action="user.password_changed",
        target=user,
        new={"password_set": True},
        reason=reason.strip(),
    )


# --- centres, sites, memberships, tokens ---------------------------------------------------


def _centre_fields(centre: Centre) -> dict[str, str]:
    return {
        "code": centre.code,
        "name": centre.name,
        "city": centre.city,
        "time_zone": centre.time_zone,
    }


@transaction.atomic
def centre_add(
    *, actor: Actor, code: str, name: str, city: str = "", time_zone: str = "Europe/Paris"
) -> Centre:
    """Register a centre (a hospital) with its time zone."""
    code = code.strip().upper()
    if not re.fullmatch(r"[A-Z0-9][A-Z0-9_-]{0,19}", code):
        raise ValidationError(
            _("The centre code %(code)s must be 1 to 20 capitals, digits, - or _.")
            % {"code": repr(code)}
        )
    if not name.strip():
        raise ValidationError(_("The centre needs a name."))
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise ValidationError(
            _("%(zone)s is not a time zone (e.g. Europe/Paris).") % {"zone": repr(time_zone)}
        ) from error
    if Centre.objects.filter(code=code).exists():
        raise ValidationError(_("There is already a centre %(code)s.") % {"code": code})
    centre = Centre.objects.create(
        code=code, name=name.strip(), city=city.strip(), time_zone=time_zone
    )
    audit_record(actor=actor, action="centre.added", target=centre, new=_centre_fields(centre))
    return centre


def centre_get(code: str) -> Centre:
    centre = Centre.objects.filter(code=code.strip().upper()).first()
    if centre is None:
        raise ValidationError(_("There is no centre %(code)s.") % {"code": repr(code)})
    return centre


@transaction.atomic
def site_add(*, actor: Actor, study: Study, centre: Centre, code: str | None = None) -> StudySite:
    """Make a centre a site of a study, numbered in the study (01, 02… unless given)."""
    if StudySite.objects.filter(study=study, centre=centre).exists():
        raise ValidationError(
            _("%(centre)s is already a site of %(study)s.")
            % {"centre": centre.code, "study": study.identifier}
        )
    if code is None:
        code = f"{StudySite.objects.filter(study=study).count() + 1:02d}"
    code = code.strip()
    if not re.fullmatch(r"[A-Za-z0-9]{1,10}", code):
        raise ValidationError(
            _("The site number %(code)s must be 1 to 10 letters or digits.") % {"code": repr(code)}
        )
    if StudySite.objects.filter(study=study, code=code).exists():
        raise ValidationError(
            _("%(study)s already has a site %(code)s.") % {"study": study.identifier, "code": code}
        )
    site = StudySite.objects.create(study=study, centre=centre, code=code)
    audit_record(
        actor=actor,
        action="site.added",
        target=site,
        new={"study": study.identifier, "centre": centre.code, "site": code},
        chain=study.audit_chain,
    )
    return site


def site_get(study: Study, reference: str) -> StudySite:
    """Return a site of a study by its number (01) or its centre's code (ICM)."""
    site = (
        StudySite.objects.filter(study=study)
        .filter(Q(code=reference) | Q(centre__code=reference.strip().upper()))
        .select_related("centre")
        .first()
    )
    if site is None:
        raise ValidationError(
            _("%(study)s has no site %(site)s.")
            % {"study": study.identifier, "site": repr(reference)}
        )
    return site


@transaction.atomic
def site_activate(*, actor: Actor, site: StudySite, on: date) -> StudySite:
    """Set the date from which a site may include patients."""
    old = site.activated_on
    site.activated_on = on
    site.save(update_fields=["activated_on"])
    audit_record(
        actor=actor,
        action="site.activated",
        target=site,
        old={"activated_on": old},
        new={"activated_on": on},
        chain=site.study.audit_chain,
    )
    return site


def _membership_fields(membership: Membership) -> dict[str, Any]:
    return {
        "user": membership.user.username,
        "study": membership.study.identifier,
        "site": membership.site.code if membership.site else "all",
        "role": membership.role,
        "starts_on": membership.starts_on,
        "ends_on": membership.ends_on,
        "ended_at": membership.ended_at,
    }


@transaction.atomic
def role_grant(
    *,
    actor: Actor,
    user: User,
    study: Study,
    site: StudySite | None,
    role: str,
    starts_on: date,
    ends_on: date | None = None,
) -> Membership:
    """Give a person a role on a study for one site (or all sites) for a period."""
    if role not in Role.values:
        raise ValidationError(
            _("%(role)s is not a role; roles: %(roles)s.")
            % {"role": repr(role), "roles": ", ".join(Role.values)}
        )
    if not user.is_active:
        raise ValidationError(
            _("The account %(username)s is deactivated.") % {"username": repr(user.username)}
        )
    if site is not None and site.study_id != study.pk:
        raise ValidationError(
            _("Site %(site)s is not a site of %(study)s.")
            % {"site": site.code, "study": study.identifier}
        )
    if site is None and role in SITE_ROLES:
        raise ValidationError(
            _("%(role)s is a site role: name the site, not all sites.") % {"role": Role(role).label}
        )
    if ends_on is not None and ends_on < starts_on:
        raise ValidationError(
            _("The membership would end (%(end)s) before it starts (%(start)s).")
            % {"end": ends_on, "start": starts_on}
        )
    overlapping = (
        Membership.objects.select_for_update()
        .filter(user=user, study=study, site=site, role=role)
        .filter(Q(ends_on__isnull=True) | Q(ends_on__gte=starts_on))
    )
    if ends_on is not None:
        overlapping = overlapping.filter(starts_on__lte=ends_on)
    clash = overlapping.first()
    if clash is not None:
        until = clash.ends_on or "open-ended"
        raise ValidationError(
            _(
                "%(username)s already holds %(role)s there from %(start)s to %(end)s; the "
                "periods would overlap."
            )
            % {"username": user.username, "role": role, "start": clash.starts_on, "end": until}
        )
    membership = Membership.objects.create(
        user=user, study=study, site=site, role=role, starts_on=starts_on, ends_on=ends_on
    )
    permissions_forget()
    audit_record(
        actor=actor,
        action="role.granted",
        target=membership,
        new=_membership_fields(membership),
        chain=study.audit_chain,
    )
    return membership


@transaction.atomic
def role_revoke(
    *,
    actor: Actor,
    user: User,
    study: Study,
    site: StudySite | None,
    role: str,
    on: date | None = None,
    reason: str = "",
) -> Membership:
    """End a membership: now, or after a given last day (the delegation log keeps it, with its
    end).

    Without a date the role stops at once (its tokens and sessions lose it with the next
    request): today becomes its last day and ``ended_at`` the moment it ended.
    """
    now = utc_now()
    day = on or now.date()
    membership = (
        Membership.objects.select_for_update()
        .filter(user=user, study=study, site=site, role=role, ended_at__isnull=True)
        .filter(Q(ends_on__isnull=True) | Q(ends_on__gte=day))
        .order_by("-starts_on")
        .first()
    )
    if membership is None:
        raise ValidationError(
            _("%(username)s holds no %(role)s role there on %(date)s.")
            % {"username": user.username, "role": role, "date": day}
        )
    if day < membership.starts_on:
        raise ValidationError(
            _("The membership starts on %(start)s, after %(date)s.")
            % {"start": membership.starts_on, "date": day}
        )
    old = _membership_fields(membership)
    membership.ends_on = day
    membership.ended_at = None if on is not None else now
    membership.save(update_fields=["ends_on", "ended_at"])
    permissions_forget()
    audit_record(
        actor=actor,
        action="role.revoked",
        target=membership,
        old=old,
        new=_membership_fields(membership),
        reason=reason,
        chain=study.audit_chain,
    )
    return membership


def user_get(username: str) -> User:
    user = User.objects.filter(username__iexact=username.strip()).first()
    if user is None:
        raise ValidationError(_("There is no account %(username)s.") % {"username": repr(username)})
    return user


@transaction.atomic
def user_deactivate(*, actor: Actor, user: User, reason: str) -> User:
    """Deactivate an account: it keeps its history but can no longer sign in or use tokens."""
    if not reason.strip():
        raise ValidationError(_("A reason is required to deactivate an account."))
    if not user.is_active:
        raise ValidationError(
            _("The account %(username)s is already deactivated.")
            % {"username": repr(user.username)}
        )
    user.is_active = False
    user.save(update_fields=["is_active"])
    revoked = ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(
        revoked_at=utc_now()
    )
    audit_record(
        actor=actor,
        action="user.deactivated",
        target=user,
        old={"active": True},
        new={"active": False, "tokens_revoked": revoked},
        reason=reason.strip(),
    )
    return user


def _token_hash(key: str) -> str:
    return sha256_hex(key.encode("ascii"))


@transaction.atomic
def token_create(
    *, actor: Actor, user: User, study: Study, label: str = ""
) -> tuple[ApiToken, str]:
    """Create an API token for a user on a study; return it with the key, which is never stored.

    The token of a person who must use a second factor works only once that person has enrolled
    one (`token_waits_for_second_factor` tells the caller, to say so).
    """
    if not user.is_active:
        raise ValidationError(
            _("The account %(username)s is deactivated.") % {"username": repr(user.username)}
        )
    if not memberships_in_force(user, study=study).exists():
        raise ValidationError(
            _("%(username)s has no role in force on %(study)s.")
            % {"username": user.username, "study": study.identifier}
        )
    key = secrets.token_hex(16).upper()  # 32 hexadecimal characters, as REDCap's tokens
    token = ApiToken.objects.create(
        user=user, study=study, key_hash=_token_hash(key), prefix=key[:6], label=label.strip()
    )
    audit_record(
        actor=actor,
        action="token.created",
        target=token,
        new={
            "user": user.username,
            "study": study.identifier,
            "prefix": token.prefix,
            "label": token.label,
        },
        chain=study.audit_chain,
    )
    return token, key


@transaction.atomic
def token_revoke(*, actor: Actor, token: ApiToken, reason: str = "") -> ApiToken:
    """Revoke a token: it stops working at once."""
    if token.revoked_at is not None:
        raise ValidationError(
            _("The token %(prefix)s… is already revoked.") % {"prefix": token.prefix}
        )
    token.revoked_at = utc_now()
    token.save(update_fields=["revoked_at"])
    audit_record(
        actor=actor,
        action="token.revoked",
        target=token,
        new={"user": token.user.username, "prefix": token.prefix},
        reason=reason,
        chain=token.study.audit_chain,
    )
    return token


def token_waits_for_second_factor(token: ApiToken) -> bool:
    """Return whether a token cannot work yet: its owner must enrol a second factor first."""
    return not TOTPDevice.objects.filter(
        user=token.user, confirmed=True
    ).exists() and two_factor_required(token.user)


def _live_token(key_hash: str) -> QuerySet[ApiToken]:
    return (
        ApiToken.objects.select_related("user", "study__current_version")
        .defer(*(f"study__current_version__{name}" for name in BULKY_VERSION_FIELDS))
        .annotate(
            second_factor_enrolled=Exists(
                TOTPDevice.objects.filter(user=OuterRef("user"), confirmed=True)
            )
        )
        .filter(key_hash=key_hash, revoked_at__isnull=True, user__is_active=True)
        .order_by()
    )


# Read on every API call: compiled once (carnet/db/prepared.py).
_LIVE_TOKEN = Prepared(_live_token, str)


def token_authenticate(key: str) -> ApiToken | None:
    """Return the live token for a key (recording its use), or None; never says why.

    The token comes with its person, its study and the study's current version (what every
    request on the study reads next), and ``second_factor_enrolled``: whether the person has
    enrolled a second factor (`token_second_factor_missing` needs it). A password lock-out does
    not concern tokens: a token is a credential of its own, stopped by revoking it.
    """
    key = key.strip().upper()
    if not re.fullmatch(r"[0-9A-F]{32}", key):
        return None
    token = _LIVE_TOKEN.first(_token_hash(key))
    if token is None:
        return None
    now = utc_now()
    # Recording every use would write on every request; once a minute is enough to audit use.
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def user_language_set(*, user: User, language: str) -> None:
    """Remember a person's language (a preference, not clinical data: not audited)."""
    if user.language != language:
        user.language = language
        user.save(update_fields=["language"])
