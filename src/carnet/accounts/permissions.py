"""The one permission module: may this person do this on this study, at this site, now?

Every selector and service asks here. Rights come only from memberships in force today (the
delegation log); an account that is deactivated, or whose membership has ended, gets nothing.
System administrators (superusers) manage studies and access everywhere but see no clinical
data unless a membership gives it to them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime

from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext as _

from carnet.accounts.models import ApiToken, Membership, StudySite, User
from carnet.accounts.roles import GRANTS, UNBLINDED_ROLES, Action
from carnet.audit.services import SystemActor
from carnet.core.clock import utc_now, utc_today
from carnet.core.errors import CarnetError
from carnet.studies.models import Study

# Who acts, as accounts knows them: a user with their memberships, or the system on someone's
# behalf (a command, the worker). The audit trail records either through its `Person` protocol.
Actor = User | SystemActor

# The activity report counts (no patient data): the centre's direction asks it of them.
SYSTEM_ADMINISTRATOR_ACTIONS = frozenset(
    {Action.VIEW_STUDY, Action.MANAGE_STUDY, Action.MANAGE_ACCESS, Action.VIEW_ACTIVITY}
)
# Actions on the study as a whole: a membership restricted to some sites does not allow them.
STUDY_WIDE_ACTIONS = frozenset({Action.MANAGE_STUDY, Action.MANAGE_ACCESS})


class PermissionDenied(CarnetError):
    """The actor may not do this; the message says what, never whether something exists."""


@dataclass(frozen=True)
class SiteScope:
    """The sites where an action is allowed: every site of the study, or some."""

    all_sites: bool
    site_ids: frozenset[int]

    def allows(self, site: StudySite | int | None) -> bool:
        if self.all_sites:
            return True
        if site is None:
            return False
        return (site if isinstance(site, int) else site.pk) in self.site_ids

    @property
    def empty(self) -> bool:
        return not self.all_sites and not self.site_ids


NOWHERE = SiteScope(all_sites=False, site_ids=frozenset())


def memberships_in_force(
    user: User, *, study: Study | None = None, on: date | None = None
) -> QuerySet[Membership]:
    """Return the user's memberships valid on a date (today by default).

    A role revoked with immediate effect holds on its last day only until the moment it ended:
    asked about today, the answer leaves it out from then on.
    """
    day = on or utc_today()
    if not user.is_active:
        return Membership.objects.none()
    if day >= utc_today():
        memberships = memberships_in_force_now(user.pk, day, utc_now())
    else:
        memberships = Membership.objects.filter(user=user, starts_on__lte=day).filter(
            Q(ends_on__isnull=True) | Q(ends_on__gte=day)
        )
    return memberships.filter(study=study) if study is not None else memberships


def memberships_in_force_now(user_id: int, day: date, now: datetime) -> QuerySet[Membership]:
    """Return the memberships of an active user in force on ``day``, today or later, those
    revoked with immediate effect before ``now`` left out: a function of its values only, so
    that it can be prepared (db/prepared.py)."""
    return (
        Membership.objects.filter(user_id=user_id, starts_on__lte=day)
        .filter(Q(ends_on__isnull=True) | Q(ends_on__gte=day))
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gt=now))
    )


# One request asks the same question many times (the study, the subject, the save, the answer):
# within a request, the roles a user holds in a study are read once. Outside a request (commands,
# tests) every question reads the database. A change of memberships empties the cache.
_roles_read: ContextVar[dict[tuple[int, int, date], tuple[tuple[str, int | None], ...]] | None] = (
    ContextVar("roles_read", default=None)
)


@contextmanager
def permissions_remembered() -> Iterator[None]:
    """Remember, until the block ends, the roles each user holds in each study."""
    token = _roles_read.set({})
    try:
        yield
    finally:
        _roles_read.reset(token)


def permissions_forget() -> None:
    """Forget what this request remembered (memberships just changed)."""
    remembered = _roles_read.get()
    if remembered is not None:
        remembered.clear()


def roles_remember(user: User, rows: Iterable[tuple[int, str, int | None]], *, on: date) -> None:
    """Remember for this request the roles ``rows`` (study id, role, site id) give the user:
    every membership of the user in force on that day, read by the caller for its own needs, so
    the questions that follow about those studies read nothing more."""
    remembered = _roles_read.get()
    if remembered is None:
        return
    by_study: dict[int, list[tuple[str, int | None]]] = {}
    for study_id, role, site_id in rows:
        by_study.setdefault(study_id, []).append((role, site_id))
    for study_id, roles in by_study.items():
        remembered.setdefault((user.pk, study_id, on), tuple(roles))


def _roles_in_force(
    user: User, study: Study, on: date | None
) -> tuple[tuple[str, int | None], ...]:
    """Return the (role, site id or None for all sites) the user holds in the study on a day."""
    day = on or utc_today()
    remembered = _roles_read.get()
    key = (user.pk, study.pk, day)
    if remembered is not None and key in remembered:
        return remembered[key]
    # Unordered: the model's ordering would join the study for nothing.
    roles = tuple(
        memberships_in_force(user, study=study, on=day).order_by().values_list("role", "site_id")
    )
    if remembered is not None:
        remembered[key] = roles
    return roles


def site_scope(user: User, action: Action, *, study: Study, on: date | None = None) -> SiteScope:
    """Return the sites of a study where the user may do an action."""
    if not user.is_active:
        return NOWHERE
    if user.is_superuser and action in SYSTEM_ADMINISTRATOR_ACTIONS:
        return SiteScope(all_sites=True, site_ids=frozenset())
    site_ids: set[int] = set()
    for role, site_id in _roles_in_force(user, study, on):
        if action not in GRANTS.get(role, frozenset()):
            continue
        if site_id is None:
            return SiteScope(all_sites=True, site_ids=frozenset())
        site_ids.add(site_id)
    return SiteScope(all_sites=False, site_ids=frozenset(site_ids))


def may(
    user: User,
    action: Action,
    *,
    study: Study,
    site: StudySite | None = None,
    on: date | None = None,
) -> bool:
    """Return whether the user may do ``action`` on the study (at ``site`` when one is given).

    Without a site, the question is "anywhere in the study".
    """
    scope = site_scope(user, action, study=study, on=on)
    if action in STUDY_WIDE_ACTIONS:
        return scope.all_sites
    return not scope.empty if site is None else scope.allows(site)


def require(
    user: User,
    action: Action,
    *,
    study: Study,
    site: StudySite | None = None,
    on: date | None = None,
) -> None:
    """Raise PermissionDenied unless `may` allows the action."""
    if not may(user, action, study=study, site=site, on=on):
        raise PermissionDenied(
            _("You may not do this here (%(action)s).") % {"action": action.value}
        )


def study_unblinded(study: Study, *, on: date | None = None) -> bool:
    """Return whether the blind of the whole study had ended (by a date, today by default)."""
    if study.unblinded_at is None:
        return False
    return on is None or study.unblinded_at.date() <= on


def is_unblinded(user: User, *, study: Study, on: date | None = None) -> bool:
    """Return whether the user may see treatment allocation in this study: an unblinded role
    always; every person of the study once the study's blind has ended."""
    if not user.is_active:
        return False
    roles = _roles_in_force(user, study, on)
    if roles and study_unblinded(study, on=on):
        return True
    return any(role in UNBLINDED_ROLES for role, _site in roles)


def study_visible(user: User, study: Study) -> bool:
    """Return whether the user may see a study already read: as `studies_visible` says, from
    the roles this request reads anyway."""
    if not user.is_active:
        return False
    return user.is_superuser or bool(_roles_in_force(user, study, None))


def studies_visible(user: User, *, on: date | None = None) -> QuerySet[Study]:
    """Return the studies the user may see (where some membership is in force)."""
    if not user.is_active:
        return Study.objects.none()
    if user.is_superuser:
        return Study.objects.all()
    ids = memberships_in_force(user, on=on).values_list("study_id", flat=True)
    return Study.objects.filter(pk__in=ids)


# --- who asks, over the API -------------------------------------------------------------------


def request_user(request: HttpRequest) -> User:
    """Return the authenticated person behind an API request."""
    user = request.auth  # type: ignore[attr-defined]
    assert isinstance(user, User)
    return user


def request_token(request: HttpRequest) -> ApiToken | None:
    """Return the API token the request came with, if any."""
    return getattr(request, "api_token", None)


def person_asking(user: object) -> User:
    """Return a request's ``user`` as the person it is, on pages only signed-in people reach."""
    assert isinstance(user, User), "a page behind login_required"
    return user
