"""Several dispensing visits of one subject at once: each visit's kits assigned, dispensed and,
when the visit used part of a kit only, the rest brought back the same day.

What `visit_kits_assign`, `kit_dispense` and `kit_return` do one after another, in one
transaction (all or nothing) and with the subject, its arm, the plan, the study version and the
subject's dates read once: the same checks per kit, the same conditional UPDATE guarding each
kit taken (``status = available``), the same ledger rows and one audit event per movement, in
the same order (visit by visit: assigned, dispensed, returned). For worlds replaying a
subject's past visits (the demo) or a day unit recording a patient's visits together.

The subject's dates are read once: nothing written here changes what they hold (visits,
withdrawals, settings), so a visit's next dispensing day is the one the one-at-a-time path
finds when the same visits are recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.db import transaction
from django.utils.translation import gettext as _

from carnet.audit.services import Actor
from carnet.core.clock import utc_now
from carnet.core.errors import ValidationError
from carnet.pharmacy.assignment import (
    NoUsableKit,
    actor_name,
    next_dispensing_day,
    pharmacist_require,
    subject_arm,
)
from carnet.pharmacy.dispensing import _dispensable, _dispensed_to, _returnable
from carnet.pharmacy.ledger import LedgerEntry, ledger_record, movement_entry
from carnet.pharmacy.models import Dispensing, Kit, KitStatus, Return, StockMovement
from carnet.pharmacy.plan import PharmacyPlan, pharmacy_plan
from carnet.subjects.models import Subject
from carnet.subjects.schedule import SubjectDates
from carnet.subjects.scheduling import subject_dates


@dataclass(frozen=True)
class VisitDispensing:
    """One dispensing visit: its kits assigned at ``at`` (or those it holds already), dispensed
    on ``on`` to ``dispensed_to``. ``used`` is how much of each kit the visit used when the rest
    came back the same day (``return_note`` says why); None: nothing came back."""

    event: str
    occurrence: int
    at: datetime
    on: date
    dispensed_to: str
    used: Decimal | int | None = None
    return_note: str = ""


@dataclass
class _Writes:
    """What the visits write, kept in order and written together at the end."""

    now: datetime
    by: str  # who dispensed and took back, as the dispensings and returns name them
    entries: list[LedgerEntry] = field(default_factory=list)
    dispensings: list[Dispensing] = field(default_factory=list)
    returns: list[Return] = field(default_factory=list)
    statuses: dict[int, str] = field(default_factory=dict)  # kit pk -> its status at the end


class _Stock:
    """The site's available kits of the subject's arm, by product, soonest expiry first: read
    once, then again only when the kits read are all taken or gone."""

    def __init__(self, subject: Subject, arm: str) -> None:
        self.subject, self.arm = subject, arm
        self.kits: dict[str, list[Kit]] = {}

    def read(self, product: str) -> list[Kit]:
        subject = self.subject
        self.kits[product] = list(
            Kit.objects.filter(
                study=subject.study,
                environment=subject.environment,
                site=subject.site,
                status=KitStatus.AVAILABLE,
                content=self.arm,
                batch__product=product,
                batch__released_on__isnull=False,
            )
            .select_related("batch", "site")
            .order_by("expiry", "number")
        )
        return self.kits[product]

    def usable(self, product: str, *, on: date, lasts_until: date | None) -> list[Kit]:
        """The kits `assignment._candidates` would find now, in its order."""
        kits = self.kits[product] if product in self.kits else self.read(product)
        return [
            kit
            for kit in kits
            if kit.batch.released_on is not None
            and kit.batch.released_on <= on
            and kit.expiry > on
            and (lasts_until is None or kit.expiry >= lasts_until)
        ]


def _take(stock: _Stock, *, product: str, visit: VisitDispensing, lasts_until: date | None) -> Kit:
    """Take the first usable kit as `assignment._take_one` does (the same conditional UPDATE),
    its assignment's movement not written yet."""
    subject, on = stock.subject, visit.at.date()
    fresh = False
    while True:
        candidates = stock.usable(product, on=on, lasts_until=lasts_until)
        if not candidates and not fresh:
            # The stock read earlier has none left: ask the database, as each visit alone does.
            stock.read(product)
            fresh = True
            candidates = stock.usable(product, on=on, lasts_until=lasts_until)
        if not candidates:
            raise NoUsableKit(
                _("no usable kit at site %(site)s for this visit: tell the sponsor's depot.")
                % {"site": subject.site.code}
            )
        for kit in candidates:
            stock.kits[product].remove(kit)
            # The conditional UPDATE is the guard: a kit taken meanwhile matches no row.
            taken = Kit.objects.filter(pk=kit.pk, status=KitStatus.AVAILABLE).update(
                status=KitStatus.ASSIGNED,
                subject=subject,
                event=visit.event,
                occurrence=visit.occurrence,
                assigned_at=visit.at,
                updated_at=visit.at,
            )
            if taken:
                kit.status, kit.subject = KitStatus.ASSIGNED, subject
                kit.event, kit.occurrence = visit.event, visit.occurrence
                kit.assigned_at = kit.updated_at = visit.at
                return kit
        fresh = False  # every kit read was taken meanwhile: read the stock again


def _assign(
    stock: _Stock,
    writes: _Writes,
    *,
    plan: PharmacyPlan,
    visit: VisitDispensing,
    dates: SubjectDates,
) -> list[Kit]:
    subject = stock.subject
    lasts_until = next_dispensing_day(
        subject,
        plan,
        after=visit.at.date(),
        current=(visit.event, visit.occurrence),
        dates=dates,
    )
    kits = []
    for rule in plan.dispensed_at(visit.event):
        for _n in range(rule.kits):
            kit = _take(stock, product=rule.product, visit=visit, lasts_until=lasts_until)
            writes.entries.append(
                movement_entry(
                    kind=StockMovement.Kind.ASSIGNED,
                    environment=subject.environment,
                    site=subject.site,
                    kit=kit,
                    quantity=kit.quantity,
                    subject=subject,
                    reason="",
                    at=visit.at,
                    details={"event": visit.event, "occurrence": visit.occurrence},
                )
            )
            kits.append(kit)
    return kits


def _unused(kit: Kit, used: Decimal | int) -> Decimal:
    """What comes back of a kit of which ``used`` was used, as a pharmacist writes it (1, not
    1.000: the quantity's text goes into the audit event)."""
    held = kit.quantity
    left = held - min(held, Decimal(str(used)))
    return left.quantize(Decimal(1)) if left == left.to_integral_value() else left.normalize()


def _dispense(writes: _Writes, kit: Kit, subject: Subject, visit: VisitDispensing, to: str) -> None:
    """Dispense, then take back what was not used, as `kit_dispense` and `kit_return` do."""
    site, now = subject.site, writes.now
    patient = _dispensable(kit, site)
    writes.dispensings.append(
        Dispensing(
            study=subject.study,
            environment=kit.environment,
            site=site,
            subject=patient,
            kit=kit,
            product=kit.batch.product,
            quantity=kit.quantity,
            event=kit.event,
            occurrence=kit.occurrence,
            dispensed_on=visit.on,
            dispensed_to=to,
            dispensed_by=writes.by,
            recorded_at=now,
        )
    )
    kit.status = writes.statuses[kit.pk] = KitStatus.DISPENSED
    writes.entries.append(
        movement_entry(
            kind=StockMovement.Kind.DISPENSED,
            environment=kit.environment,
            site=site,
            kit=kit,
            quantity=kit.quantity,
            subject=patient,
            reason="",
            at=now,
            details={"on": visit.on, "to": to, "event": kit.event},
        )
    )
    if visit.used is None:
        return
    left = _unused(kit, visit.used)
    if not left:
        return
    unused, patient = _returnable(kit, site, left)
    writes.returns.append(
        Return(
            study=subject.study,
            environment=kit.environment,
            site=site,
            subject=patient,
            kit=kit,
            product=kit.batch.product,
            quantity=unused,
            returned_on=visit.on,
            note=visit.return_note,
            recorded_by=writes.by,
            recorded_at=now,
        )
    )
    kit.status = writes.statuses[kit.pk] = KitStatus.RETURNED
    writes.entries.append(
        movement_entry(
            kind=StockMovement.Kind.RETURNED,
            environment=kit.environment,
            site=site,
            kit=kit,
            quantity=unused,
            subject=patient,
            reason=visit.return_note,
            at=now,
            details={"on": visit.on},
        )
    )


def _held(subject: Subject) -> dict[tuple[str, int | None], list[Kit]]:
    """The kits the subject's visits hold already (`assignment.visit_kits`), locked."""
    held: dict[tuple[str, int | None], list[Kit]] = {}
    for kit in (
        Kit.objects.select_for_update(of=("self",))
        .filter(subject=subject)
        .exclude(status__in=[KitStatus.DAMAGED, KitStatus.DESTROYED])
        .select_related("batch", "site", "subject")
        .order_by("number")
    ):
        held.setdefault((kit.event, kit.occurrence), []).append(kit)
    return held


def _written(writes: _Writes, actor: Actor, subject: Subject) -> None:
    Dispensing.objects.bulk_create(writes.dispensings)
    Return.objects.bulk_create(writes.returns)
    by_status: dict[str, list[int]] = {}
    for pk, status in writes.statuses.items():
        by_status.setdefault(status, []).append(pk)
    for status, pks in sorted(by_status.items()):
        Kit.objects.filter(pk__in=pks).update(status=status, updated_at=writes.now)
    ledger_record(actor=actor, study=subject.study, entries=writes.entries, at=writes.now)


def visits_kits_dispense(
    *, actor: Actor, subject: Subject, visits: Sequence[VisitDispensing]
) -> list[list[Kit]]:
    """Assign (unless the visit holds them already), dispense and take back the unused part of
    the kits of several dispensing visits of a subject, in the visits' order, all or none;
    return each visit's kits. Refused as `visit_kits_assign`, `kit_dispense` and `kit_return`
    refuse one visit."""
    study = subject.study
    pharmacist_require(actor, study, subject.site)
    plan = pharmacy_plan(study)
    if plan is None or not plan.kits:
        raise ValidationError(_("this study does not dispense numbered kits."))
    handed_to = [_dispensed_to(visit.dispensed_to) for visit in visits]
    with transaction.atomic():
        # The subject's row is the lock: the same visit asked twice at once gets one set.
        subject = (
            Subject.objects.select_for_update(of=("self",))
            .select_related("study", "site")
            .get(pk=subject.pk)
        )
        stock = _Stock(subject, subject_arm(subject))
        held = _held(subject)
        dates: SubjectDates | None = None
        writes = _Writes(now=utc_now(), by=actor_name(actor))
        found = []
        for visit, to in zip(visits, handed_to, strict=True):
            if not plan.dispensed_at(visit.event):
                raise ValidationError(
                    _("event %(event)s: the study's pharmacy plan dispenses nothing at this visit.")
                    % {"event": visit.event}
                )
            kits = held.get((visit.event, visit.occurrence))
            if not kits:
                dates = dates or subject_dates(subject)
                kits = _assign(stock, writes, plan=plan, visit=visit, dates=dates)
                held[(visit.event, visit.occurrence)] = kits
            for kit in kits:
                _dispense(writes, kit, subject, visit, to)
            found.append(kits)
        _written(writes, actor, subject)
    return found
