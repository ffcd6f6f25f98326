"""Kit assignment: the kit(s) of the subject's arm a site gives at randomisation and at each
dispensing visit.

A kit is assigned from the site's usable stock only: received (status available, so never a
quarantined, damaged or expired kit), of a released batch of the visit's product, holding the
subject's arm, and not expiring before the subject's next dispensing visit; the soonest expiry
goes first. The choice is a conditional UPDATE (``status = available``): two pharmacists, or a
randomisation and a pharmacist, asking at once never get the same kit. On PostgreSQL the second
UPDATE waits for the first transaction and then matches no row; on SQLite the IMMEDIATE
transactions already run one at a time. Nothing here says which arm a kit holds: refusals name
the site, never the arm.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta

from django.db import transaction
from django.utils.translation import gettext as _

from carnet.accounts.models import StudySite
from carnet.accounts.permissions import require
from carnet.accounts.roles import Action
from carnet.audit.services import Actor, SystemActor
from carnet.core.clock import utc_now
from carnet.core.errors import CarnetError, ValidationError
from carnet.pharmacy.ledger import movement_record
from carnet.pharmacy.models import Kit, KitStatus, StockMovement
from carnet.pharmacy.plan import PharmacyPlan, pharmacy_plan
from carnet.randomization.kits import KitsExhausted, register_kit_assigner
from carnet.randomization.models import Allocation
from carnet.studies.models import Study
from carnet.subjects.models import Subject
from carnet.subjects.schedule import SubjectDates, planned_occurrences
from carnet.subjects.scheduling import subject_dates

# How far ahead the schedule is planned to find the next dispensing visit.
_LOOK_AHEAD = timedelta(days=400)


class NoUsableKit(CarnetError):
    """The site has no usable kit for the subject's visit (the message never names the arm)."""


def actor_name(actor: Actor) -> str:
    """Return how dispensing, returns and destructions name who recorded them."""
    return actor.label if isinstance(actor, SystemActor) else actor.get_username()


def pharmacist_require(actor: Actor, study: Study, site: StudySite) -> None:
    """Refuse unless the actor dispenses at ``site`` (commands on the server act for the centre)."""
    if isinstance(actor, SystemActor):
        return
    require(actor, Action.DISPENSE, study=study, site=site)  # type: ignore[arg-type]


def next_dispensing_day(
    subject: Subject,
    plan: PharmacyPlan,
    *,
    after: date,
    current: tuple[str, int] | None = None,
    randomised_on: date | None = None,
    dates: SubjectDates | None = None,
) -> date | None:
    """Return the last day of the window of the subject's next dispensing visit after ``after``
    (any next visit when the plan names no dispensing event), or None when none is planned.
    ``current`` (event, occurrence) is the visit the kit is for: never its own next visit.

    ``randomised_on`` stands for the randomisation date while the allocation is being written
    (the schedule's anchor is not stored yet). ``dates`` are the subject's dates when the caller
    read them already (several visits at once, nothing written in between that they read)."""
    if subject.study.current_version is None:
        return None
    dates = dates or subject_dates(subject)
    if dates.randomisation is None and randomised_on is not None:
        dates = dataclasses.replace(dates, randomisation=randomised_on)
    planned = planned_occurrences(
        subject.study.current_version.parsed(), dates, through=after + _LOOK_AHEAD
    )
    events = plan.events
    days = [
        p.latest or p.target
        for p in planned
        if p.awaited
        and p.target is not None
        and p.target > after
        and (p.event, p.number) != current
        and (not events or p.event in events)
    ]
    return min((day for day in days if day is not None), default=None)


def _candidates(
    subject: Subject, content: str, product: str, *, on: date, lasts_until: date | None
) -> list[int]:
    usable = Kit.objects.filter(
        study=subject.study,
        environment=subject.environment,
        site=subject.site,
        status=KitStatus.AVAILABLE,
        content=content,
        batch__product=product,
        batch__released_on__isnull=False,
        batch__released_on__lte=on,
        expiry__gt=on,
    )
    if lasts_until is not None:
        usable = usable.filter(expiry__gte=lasts_until)
    return list(usable.order_by("expiry", "number").values_list("pk", flat=True)[:50])


def _take_one(
    *,
    actor: Actor,
    subject: Subject,
    content: str,
    product: str,
    event: str,
    occurrence: int,
    on: date,
    lasts_until: date | None,
    at: datetime,
    reason: str,
) -> Kit:
    while True:
        candidates = _candidates(subject, content, product, on=on, lasts_until=lasts_until)
        if not candidates:
            raise NoUsableKit(
                _("no usable kit at site %(site)s for this visit: tell the sponsor's depot.")
                % {"site": subject.site.code}
            )
        for pk in candidates:
            # The conditional UPDATE is the guard: a kit taken meanwhile matches no row.
            taken = Kit.objects.filter(pk=pk, status=KitStatus.AVAILABLE).update(
                status=KitStatus.ASSIGNED,
                subject=subject,
                event=event,
                occurrence=occurrence,
                assigned_at=at,
                updated_at=at,
            )
            if taken:
                kit = Kit.objects.select_related("batch", "site").get(pk=pk)
                movement_record(
                    actor=actor,
                    kind=StockMovement.Kind.ASSIGNED,
                    study=subject.study,
                    environment=subject.environment,
                    site=subject.site,
                    kit=kit,
                    quantity=kit.quantity,
                    subject=subject,
                    reason=reason,
                    at=at,
                    details={"event": event, "occurrence": occurrence},
                )
                return kit


def subject_arm(subject: Subject) -> str:
    """Return the subject's allocated arm (server side only: never shown to a blinded person)."""
    arm = Allocation.objects.filter(subject=subject).values_list("arm", flat=True).first()
    if arm is None:
        raise ValidationError(
            _("%(subject)s is not randomised: no kit can be assigned.")
            % {"subject": subject.identifier}
        )
    return arm


def visit_kits(subject: Subject, *, event: str, occurrence: int) -> list[Kit]:
    """Return the kits assigned (or dispensed) to the subject for one visit, not replaced."""
    return list(
        Kit.objects.filter(subject=subject, event=event, occurrence=occurrence)
        .exclude(status__in=[KitStatus.DAMAGED, KitStatus.DESTROYED])
        .select_related("batch")
        .order_by("number")
    )


def _assign(
    *,
    actor: Actor,
    subject: Subject,
    plan: PharmacyPlan,
    arm: str,
    event: str,
    occurrence: int,
    at: datetime,
    randomised_on: date | None = None,
    reason: str = "",
) -> list[Kit]:
    rules = plan.dispensed_at(event)
    if not rules:
        raise ValidationError(
            _("event %(event)s: the study's pharmacy plan dispenses nothing at this visit.")
            % {"event": event}
        )
    existing = visit_kits(subject, event=event, occurrence=occurrence)
    if existing:
        return existing  # asked twice (randomisation, then the pharmacist's page): one set
    on = at.date()
    lasts_until = next_dispensing_day(
        subject, plan, after=on, current=(event, occurrence), randomised_on=randomised_on
    )
    kits = []
    for rule in rules:
        for _n in range(rule.kits):
            kits.append(
                _take_one(
                    actor=actor,
                    subject=subject,
                    content=arm,
                    product=rule.product,
                    event=event,
                    occurrence=occurrence,
                    on=on,
                    lasts_until=lasts_until,
                    at=at,
                    reason=reason,
                )
            )
    return kits


def visit_kits_assign(
    *,
    actor: Actor,
    subject: Subject,
    event: str,
    occurrence: int,
    at: datetime | None = None,
) -> list[Kit]:
    """Assign the kit(s) of the subject's arm for a dispensing visit from its site's usable
    stock; return them (the same ones when the visit already has its kits)."""
    study = subject.study
    pharmacist_require(actor, study, subject.site)
    plan = pharmacy_plan(study)
    if plan is None or not plan.kits:
        raise ValidationError(_("this study does not dispense numbered kits."))
    with transaction.atomic():
        # The subject's row is the lock: the same visit asked twice at once gets one set.
        subject = (
            Subject.objects.select_for_update(of=("self",))
            .select_related("study", "site")
            .get(pk=subject.pk)
        )
        return _assign(
            actor=actor,
            subject=subject,
            plan=plan,
            arm=subject_arm(subject),
            event=event,
            occurrence=occurrence,
            at=at or utc_now(),
        )


def kits_at_randomisation(
    subject: Subject, arm: str, actor: Actor, at: datetime
) -> list[str] | None:
    """The randomisation's kit assigner: the kits of the first dispensing visit (occurrence 1)
    for studies whose pharmacy runs in kit mode; None for other studies (their kit list, if any,
    serves)."""
    plan = pharmacy_plan(subject.study)
    if plan is None or not plan.kits or not plan.dispensing:
        return None
    try:
        kits = _assign(
            actor=actor,
            subject=subject,
            plan=plan,
            arm=arm,
            event=plan.dispensing[0].event,
            occurrence=1,
            at=at,
            randomised_on=at.date(),
            reason="randomisation",
        )
    except NoUsableKit:
        raise KitsExhausted from None
    return [kit.number for kit in kits]


def register() -> None:
    """Take part in randomisation (called from the pharmacy's AppConfig.ready)."""
    register_kit_assigner(kits_at_randomisation)
