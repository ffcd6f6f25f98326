"""Reads on people, sites and memberships, always scoped by what the actor may see."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext as _

from carnet.accounts.models import Membership, StudySite, User
from carnet.accounts.permissions import (
    PermissionDenied,
    memberships_in_force,
    request_token,
    request_user,
    site_scope,
    studies_visible,
    study_visible,
)
from carnet.accounts.roles import Action
from carnet.core.clock import utc_now, utc_today
from carnet.studies.models import BULKY_VERSION_FIELDS, Study


def study_for_actor(actor: User, identifier: str) -> Study:
    """Return a study the actor may see; an unknown and a forbidden study look the same."""
    study = (
        studies_visible(actor)
        .filter(identifier=identifier)
        .select_related("current_version")
        # The definition is read once per version (StudyVersion.parsed), not on every request.
        .defer(*(f"current_version__{name}" for name in BULKY_VERSION_FIELDS))
        .first()
    )
    if study is None:
        raise PermissionDenied(
            _("There is no study '%(identifier)s' you may see.") % {"identifier": identifier}
        )
    return study


def study_for_request(request: HttpRequest, identifier: str) -> Study:
    """Return the study named in the path if the person, and their token, may see it."""
    token = request_token(request)
    if token is None:
        return study_for_actor(request_user(request), identifier)
    if token.study.identifier != identifier:
        raise PermissionDenied(_("This token is for another study."))
    # The token came with its study and current version, read in this request: not read again.
    if not study_visible(request_user(request), token.study):
        raise PermissionDenied(
            _("There is no study '%(identifier)s' you may see.") % {"identifier": identifier}
        )
    return token.study


def sites_visible(
    actor: User, *, study: Study, action: Action = Action.VIEW_STUDY
) -> QuerySet[StudySite]:
    """Return the sites of a study where the actor may do ``action``, with their centre."""
    scope = site_scope(actor, action, study=study)
    sites = StudySite.objects.filter(study=study).select_related("centre").order_by("code")
    if scope.all_sites:
        return sites
    return sites.filter(pk__in=scope.site_ids)


def my_memberships(actor: User, *, on: date | None = None) -> QuerySet[Membership]:
    """Return the actor's memberships in force, with study and site."""
    return memberships_in_force(actor, on=on).select_related("study", "site", "site__centre")


def users_list() -> QuerySet[User]:
    """Return every account (administrators' view)."""
    return User.objects.order_by("username")


def site_members(*, study: Study, site: StudySite | int, roles: Iterable[str]) -> list[User]:
    """Return the active people who hold one of ``roles`` today on the study at ``site`` (a
    membership for that site or for all sites), each once: whom a message about a subject of
    that site goes to. Not scoped by an actor: Carnet itself writes to them."""
    today = utc_today()
    in_force = (
        Membership.objects.filter(study=study, role__in=list(roles), starts_on__lte=today)
        .filter(Q(ends_on__isnull=True) | Q(ends_on__gte=today))
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gt=utc_now()))
        .filter(Q(site__isnull=True) | Q(site=site))
    )
    return list(
        User.objects.filter(is_active=True, pk__in=in_force.values("user_id")).order_by("pk")
    )
