"""Reads of dispensing, accountability and resupply, scoped to the reader's sites and passed
through the blinding policy: a kit's content reaches unblinded readers only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.utils.translation import gettext as _

from carnet.accounts.models import StudySite, User
from carnet.accounts.permissions import PermissionDenied, is_unblinded, site_scope
from carnet.accounts.roles import Action
from carnet.core.errors import ValidationError
from carnet.pharmacy.accountability import Accountability, accountability
from carnet.pharmacy.models import Dispensing, Kit, KitStatus, ResupplyProposal
from carnet.pharmacy.plan import pharmacy_plan
from carnet.pharmacy.resupply import SiteNeed, site_needs
from carnet.studies.models import Study
from carnet.subjects.environments import environment_written

# Who reads a site's pharmacy: its pharmacists, its monitors, the data managers and the
# sponsor's project managers (supply).
READERS = (Action.DISPENSE, Action.MONITOR, Action.MANAGE_DATA, Action.MANAGE_STUDY)


def _sites(user: User, study: Study, actions: tuple[Action, ...]) -> list[StudySite]:
    all_sites, ids = False, set[int]()
    for action in actions:
        scope = site_scope(user, action, study=study)
        all_sites = all_sites or scope.all_sites
        ids |= scope.site_ids
    sites = StudySite.objects.filter(study=study).select_related("centre").order_by("code")
    if not all_sites:
        sites = sites.filter(pk__in=ids)
    return list(sites)


def pharmacy_sites(
    user: User, study: Study, *, actions: tuple[Action, ...] = READERS
) -> list[StudySite]:
    """Return the study's sites whose pharmacy the user may read (or act for, with
    ``actions``); refuse a user who may read none."""
    if not any(not site_scope(user, action, study=study).empty for action in actions):
        raise PermissionDenied(_("You may not see this study's pharmacy."))
    return _sites(user, study, actions)


def site_of(
    user: User, study: Study, code: str, *, actions: tuple[Action, ...] = READERS
) -> StudySite:
    """Return one site of the study the user may read; others and unknown ones look the same."""
    for site in pharmacy_sites(user, study, actions=actions):
        if site.code == code:
            return site
    raise PermissionDenied(_("There is no site '%(site)s' you may see.") % {"site": code})


def study_site(study: Study, code: str) -> StudySite:
    """Return the study's site of this code (services check the actor's rights there)."""
    site = StudySite.objects.filter(study=study, code=code).select_related("centre").first()
    if site is None:
        raise ValidationError(_("site: %(site)r is not a site of the study.") % {"site": code})
    return site


@dataclass(frozen=True)
class AwaitingKit:
    """A kit assigned to a patient's visit that the pharmacy has not dispensed yet."""

    site: str
    subject: str
    event: str
    occurrence: int
    kit: str
    expiry: date


def kits_awaiting(user: User, study: Study) -> list[AwaitingKit]:
    """Return the kits assigned and not dispensed at the sites the user dispenses for."""
    sites = pharmacy_sites(user, study, actions=(Action.DISPENSE,))
    return [
        AwaitingKit(
            site=kit.site.code if kit.site else "",
            subject=kit.subject.identifier if kit.subject else "",
            event=kit.event,
            occurrence=kit.occurrence or 1,
            kit=kit.number,
            expiry=kit.expiry,
        )
        for kit in Kit.objects.filter(
            study=study,
            environment=environment_written(study),
            site__in=sites,
            status=KitStatus.ASSIGNED,
        )
        .select_related("site", "subject")
        .order_by("site__code", "assigned_at", "number")
    ]


def dispensings_recent(user: User, study: Study, *, limit: int = 50) -> list[Dispensing]:
    """Return the latest dispensings at the user's sites (no content: numbers only)."""
    sites = pharmacy_sites(user, study)
    return list(
        Dispensing.objects.filter(
            study=study, environment=environment_written(study), site__in=sites
        )
        .select_related("site", "subject", "kit")
        .order_by("-recorded_at")[:limit]
    )


def accountability_for_actor(user: User, study: Study, *, site: str = "") -> Accountability:
    """Return the accountability of the user's sites (one when ``site`` is given); kit contents
    for unblinded readers only."""
    sites = [site_of(user, study, site)] if site else pharmacy_sites(user, study)
    return accountability(
        study,
        environment_written(study),
        sites,
        unblinded=is_unblinded(user, study=study),
    )


@dataclass(frozen=True)
class ResupplyView:
    needs: list[SiteNeed]
    proposals: list[ResupplyProposal]
    unblinded: bool
    kit_mode: bool


def resupply_for_actor(user: User, study: Study) -> ResupplyView:
    """Return the user's sites' stock and need and the proposals made for them."""
    sites = pharmacy_sites(user, study)
    plan = pharmacy_plan(study)
    return ResupplyView(
        needs=site_needs(study, sites=sites),
        proposals=list(
            ResupplyProposal.objects.filter(
                study=study, environment=environment_written(study), site__in=sites
            ).select_related("site")[:100]
        ),
        unblinded=is_unblinded(user, study=study),
        kit_mode=plan is not None and plan.kits,
    )
