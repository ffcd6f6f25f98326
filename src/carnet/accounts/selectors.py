"""Reads on people, sites and memberships, always scoped by what the actor may see."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext as _
from django_otp.plugins.otp_totp.models import TOTPDevice

from carnet.accounts.models import ApiToken, Centre, Membership, StudySite, User
from carnet.accounts.permissions import (
    PermissionDenied,
    may,
    memberships_in_force,
    request_token,
    request_user,
    site_scope,
    studies_visible,
    study_visible,
)
from carnet.accounts.roles import Action
from carnet.accounts.sign_in import two_factor_enrolled
from carnet.accounts.signatures import MODE_CHANGE_MEANING, signature_meanings
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


def active_user(pk: int) -> User | None:
    """Return the active person with this identifier, or None (a closed account never signs in)."""
    return User.objects.filter(pk=pk, is_active=True).first()


def my_study(actor: User, identifier: str) -> Study | None:
    """Return the study with this identifier among those the person may see, or None."""
    return studies_visible(actor).filter(identifier=identifier).first()


def my_memberships_in(actor: User, study: Study) -> QuerySet[Membership]:
    """Return the person's memberships of one study in force today."""
    return my_memberships(actor).filter(study=study)


def my_tokens(actor: User) -> QuerySet[ApiToken]:
    """Return the person's own API tokens (revoked ones too), with their study."""
    return ApiToken.objects.filter(user=actor).select_related("study")


def my_live_token(actor: User, token_id: int) -> ApiToken | None:
    """Return one of the person's own tokens that is not revoked, or None."""
    return ApiToken.objects.filter(pk=token_id, user=actor, revoked_at__isnull=True).first()


def enrolment_pending(actor: User, device_id: int) -> TOTPDevice | None:
    """Return the person's authenticator enrolment that awaits its first code, or None."""
    return TOTPDevice.objects.filter(user=actor, confirmed=False, pk=device_id).first()


# --- what the system administrators' pages read (their views let only administrators in) ----


@dataclass(frozen=True)
class AdministrationCounts:
    centres: int
    users: int
    studies: int
    tokens: int


def administration_counts() -> AdministrationCounts:
    """Return how many centres, active accounts, studies and live tokens there are."""
    return AdministrationCounts(
        centres=Centre.objects.count(),
        users=User.objects.filter(is_active=True).count(),
        studies=Study.objects.count(),
        tokens=ApiToken.objects.filter(revoked_at__isnull=True).count(),
    )


def centres_list() -> QuerySet[Centre]:
    """Return every centre, by code."""
    return Centre.objects.order_by("code")


def centres_outside(study: Study) -> QuerySet[Centre]:
    """Return the centres that are not yet a site of the study, by code."""
    return Centre.objects.exclude(study_sites__study=study).order_by("code")


def study_sites(study: Study) -> QuerySet[StudySite]:
    """Return the study's sites with their centre, by code."""
    return StudySite.objects.filter(study=study).select_related("centre").order_by("code")


def active_users_list() -> QuerySet[User]:
    """Return the active accounts, by user name."""
    return User.objects.filter(is_active=True).order_by("username")


def delegation_log(study: Study) -> QuerySet[Membership]:
    """Return every membership of the study, ended ones too, by person then start."""
    return (
        Membership.objects.filter(study=study)
        .select_related("user", "site__centre")
        .order_by("user__username", "starts_on")
    )


def delegation_log_line(study: Study, membership_id: int) -> Membership | None:
    """Return one line of the study's delegation log, or None."""
    return Membership.objects.filter(pk=membership_id, study=study).first()


def tokens_list() -> QuerySet[ApiToken]:
    """Return every API token with its owner and study, newest first."""
    return ApiToken.objects.select_related("user", "study").order_by("-created_at")


def live_token(token_id: int) -> ApiToken | None:
    """Return a token that is not revoked, or None."""
    return ApiToken.objects.filter(pk=token_id, revoked_at__isnull=True).first()


def my_studies(actor: User) -> QuerySet[Study]:
    """Return the studies the person may see, with their current version, by identifier."""
    return studies_visible(actor).select_related("current_version").order_by("identifier")


@dataclass(frozen=True)
class StudyAccess:
    """What a person may do from a study's page, and how they would sign a change of mode."""

    manage: bool
    view_subjects: bool
    include_subjects: bool
    manage_data: bool  # the data manager's workspace and whole-study re-checks
    export: bool  # cut-offs and exports
    audit_trail: bool  # the study's whole audit trail (data managers, administrators, inspectors)
    two_factor: bool  # enrolled: a signature asks for a code too
    meanings: tuple[str, ...]
    mode_change_meaning: str
    # The study's samples (the biobank's pages): the site's staff and biobank technicians.
    samples: bool = False
    manage_samples: bool = False  # the biobank's storage, labels and aliquots


def study_access(actor: User, study: Study) -> StudyAccess:
    """Return what the person may do from the study's page."""
    return StudyAccess(
        manage=may(actor, Action.MANAGE_STUDY, study=study),
        view_subjects=may(actor, Action.VIEW_SUBJECTS, study=study),
        include_subjects=may(actor, Action.INCLUDE_SUBJECT, study=study),
        manage_data=may(actor, Action.MANAGE_DATA, study=study),
        export=may(actor, Action.EXPORT, study=study),
        audit_trail=site_scope(actor, Action.VIEW_AUDIT_TRAIL, study=study).all_sites,
        two_factor=two_factor_enrolled(actor),
        meanings=signature_meanings(study),
        mode_change_meaning=MODE_CHANGE_MEANING,
        samples=may(actor, Action.VIEW_SUBJECTS, study=study)
        or may(actor, Action.MANAGE_SAMPLES, study=study),
        manage_samples=may(actor, Action.MANAGE_SAMPLES, study=study),
    )
