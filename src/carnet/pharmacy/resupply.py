"""Resupply: per site, the usable kits of each content against a minimum and the need of the
visits scheduled in the next weeks; a proposal to the depot when a site falls short.

A proposal asks for the same number of kits of every content: the largest shortfall of any
content. Asking per content would tell a blinded reader (the depot's logistics, the project
manager) which arm the site's patients are on; the equal proposal tells nothing and still covers
the content that runs out first. The proposal goes to the study's project managers (the
sponsor's supply role, who instruct the depot) through the outbox, or to its data managers when
the study has no project manager.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import translation
from django.utils.translation import gettext as _

from carnet.accounts.models import StudySite
from carnet.accounts.roles import Role
from carnet.accounts.selectors import site_members
from carnet.audit.services import Actor, audit_record
from carnet.core.clock import utc_now, utc_today
from carnet.core.errors import ValidationError
from carnet.messaging.services import message_send, recipient_language
from carnet.pharmacy.models import Kit, KitStatus, ResupplyProposal, Shipment
from carnet.pharmacy.plan import PharmacyPlan, pharmacy_plan
from carnet.randomization.models import Allocation
from carnet.studies.models import Study
from carnet.subjects.environments import environment_written
from carnet.subjects.models import PlannedVisit


@dataclass(frozen=True)
class SiteNeed:
    """One site's stock and need; ``usable`` and ``need`` per content stay on the server (the
    pages show them to unblinded readers only)."""

    site: StudySite
    usable: dict[str, int]
    need: dict[str, int]
    minimum: int
    visits: int  # dispensing visits scheduled within the horizon, without their kits yet

    def shortfall(self, content: str) -> int:
        return max(0, self.minimum + self.need.get(content, 0) - self.usable.get(content, 0))

    @property
    def kits_per_content(self) -> int:
        """What to send of every content alike: the largest shortfall."""
        return max((self.shortfall(content) for content in self.usable), default=0)

    @property
    def usable_total(self) -> int:
        return sum(self.usable.values())


def _usable(
    study: Study, environment: str, site: StudySite, on: date, contents: list[str]
) -> dict[str, int]:
    counts = Counter(
        Kit.objects.filter(
            study=study,
            environment=environment,
            site=site,
            status=KitStatus.AVAILABLE,
            batch__released_on__isnull=False,
            expiry__gt=on,
        ).values_list("content", flat=True)
    )
    return {content: counts.get(content, 0) for content in contents}


def _need(
    study: Study, environment: str, site: StudySite, plan: PharmacyPlan, on: date
) -> tuple[dict[str, int], int]:
    kits_at: Counter[str] = Counter()
    for rule in plan.dispensing:
        kits_at[rule.event] += rule.kits
    until = on + timedelta(weeks=plan.resupply.horizon_weeks)
    awaited = PlannedVisit.objects.filter(
        study=study,
        subject__site=site,
        subject__environment=environment,
        event__in=list(kits_at),
        done_on__isnull=True,
        settled="",
        target__gte=on,
        target__lte=until,
    ).values_list("subject_id", "event", "number")
    covered = set(
        Kit.objects.filter(study=study, environment=environment, site=site, subject__isnull=False)
        .exclude(status__in=[KitStatus.DAMAGED, KitStatus.DESTROYED])
        .values_list("subject_id", "event", "occurrence")
    )
    arms = dict(
        Allocation.objects.filter(
            study=study, environment=environment, subject__site=site
        ).values_list("subject_id", "arm")
    )
    need: Counter[str] = Counter()
    visits = 0
    for subject_id, event, number in awaited:
        if (subject_id, event, number) in covered or subject_id not in arms:
            continue
        need[arms[subject_id]] += kits_at[event]
        visits += 1
    return dict(need), visits


def site_needs(study: Study, *, sites: list[StudySite], on: date | None = None) -> list[SiteNeed]:
    """Return each site's usable kits and need of the next ``horizon_weeks`` (kit mode)."""
    plan = pharmacy_plan(study)
    if plan is None or not plan.kits:
        return []
    on = on or utc_today()
    environment = environment_written(study)
    contents = list(plan.contents)
    needs = []
    for site in sites:
        need, visits = _need(study, environment, site, plan, on)
        needs.append(
            SiteNeed(
                site=site,
                usable=_usable(study, environment, site, on, contents),
                need=need,
                minimum=plan.resupply.minimum_per_content,
                visits=visits,
            )
        )
    return needs


def _tell(study: Study, proposal: ResupplyProposal) -> None:
    recipients = site_members(study=study, site=proposal.site, roles=[Role.PROJECT_MANAGER])
    if not recipients:
        recipients = site_members(study=study, site=proposal.site, roles=[Role.DATA_MANAGER])
    words = {
        "study": study.identifier,
        "site": proposal.site.code,
        "kits": proposal.kits_per_content,
        "contents": proposal.contents,
        "usable": proposal.usable,
        "visits": proposal.predicted_visits,
    }
    for recipient in recipients:
        language = recipient_language(recipient)
        with translation.override(language):
            title = _("%(study)s: resupply site %(site)s") % words
            body = (
                _(
                    "Site %(site)s of study %(study)s runs short of study kits. Please ship "
                    "%(kits)s kits of each of the %(contents)s kit contents. The site holds "
                    "%(usable)s usable kits and has %(visits)s dispensing visits in the coming "
                    "weeks."
                )
                % words
            )
        message_send(
            recipient=recipient,
            subject=title,
            body=body,
            language=language,
            key=f"pharmacy-resupply-{proposal.pk}-{recipient.pk}",
        )


def open_proposal_sites(study: Study, environment: str) -> set[int]:
    """Return the sites (ids) with an open proposal: one the depot has not answered yet by a
    shipment to the site prepared since."""
    latest: dict[int, Any] = {}
    for site_id, created_at in Shipment.objects.filter(
        study=study, environment=environment
    ).values_list("site_id", "created_at"):
        latest[site_id] = max(created_at, latest.get(site_id, created_at))
    return {
        site_id
        for site_id, created_at in ResupplyProposal.objects.filter(
            study=study, environment=environment
        ).values_list("site_id", "created_at")
        if site_id not in latest or latest[site_id] < created_at
    }


def resupply_propose(
    *,
    actor: Actor,
    study: Study,
    sites: list[StudySite],
    on: date | None = None,
    skip_open: bool = False,
) -> list[ResupplyProposal]:
    """Propose a resupply for every given site that falls short today (once a site a day);
    return the proposals written. Each goes to the depot's side through the outbox.

    ``skip_open`` (the worker's daily run) also passes over a site whose last proposal
    is still open (no shipment since): the depot is not asked again for the same shortfall."""
    plan = pharmacy_plan(study)
    if plan is None or not plan.kits:
        raise ValidationError(_("this study does not dispense numbered kits."))
    on = on or utc_today()
    environment = environment_written(study)
    written = []
    waiting = open_proposal_sites(study, environment) if skip_open else set()
    for need in site_needs(study, sites=sites, on=on):
        if need.kits_per_content == 0 or need.site.pk in waiting:
            continue
        if ResupplyProposal.objects.filter(
            study=study, environment=environment, site=need.site, proposed_on=on
        ).exists():
            continue
        try:
            with transaction.atomic():
                proposal = ResupplyProposal.objects.create(
                    study=study,
                    environment=environment,
                    site=need.site,
                    proposed_on=on,
                    kits_per_content=need.kits_per_content,
                    contents=len(need.usable),
                    usable=need.usable_total,
                    predicted_visits=need.visits,
                    created_at=utc_now(),
                )
                audit_record(
                    actor=actor,
                    action="pharmacy.resupply_proposed",
                    target=proposal,
                    new={
                        "site": need.site.code,
                        "on": on,
                        "kits_per_content": proposal.kits_per_content,
                        "contents": proposal.contents,
                        "usable": proposal.usable,
                        "predicted_visits": proposal.predicted_visits,
                    },
                    chain=study.audit_chain,
                )
                _tell(study, proposal)
        except IntegrityError:
            continue  # already proposed today
        written.append(proposal)
    return written
