"""Dispensing, replacement, returns and destruction at a site's pharmacy.

Kit mode: the pharmacist dispenses the kit assigned to the subject's visit, at the kit's own
site only; a damaged kit is replaced by another of the same content with a reason; the patient
brings kits back (with the unused quantity); returned, damaged or expired kits are destroyed
with a witness and a certificate reference. Hospital stock mode: the same, by product and
quantity, without kits. Every write is a ledger row and an audit event; no message names the
content of a kit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from django.db import transaction
from django.utils.translation import gettext as _

from carnet.accounts.models import StudySite
from carnet.audit.services import Actor
from carnet.core.clock import utc_now
from carnet.core.errors import ValidationError
from carnet.pharmacy.assignment import (
    _take_one,
    actor_name,
    next_dispensing_day,
    pharmacist_require,
)
from carnet.pharmacy.ledger import movement_record
from carnet.pharmacy.models import (
    Destruction,
    Dispensing,
    Kit,
    KitStatus,
    Return,
    StockMovement,
)
from carnet.pharmacy.plan import pharmacy_plan
from carnet.studies.models import Study
from carnet.subjects.environments import environment_written
from carnet.subjects.models import Subject

# Kits a site may destroy: back from the patient, damaged, or past their expiry.
DESTROYABLE = (KitStatus.RETURNED, KitStatus.DAMAGED, KitStatus.EXPIRED)


def _kit_locked(study: Study, number: str) -> Kit:
    kit = (
        Kit.objects.select_for_update(of=("self",))
        .select_related("batch", "site", "subject")
        .filter(study=study, environment=environment_written(study), number=number.strip())
        .first()
    )
    if kit is None:
        raise ValidationError(_("kit %(number)s: no such kit in this study.") % {"number": number})
    return kit


def _at_site(kit: Kit, site: StudySite) -> None:
    """Refuse a kit that is not in this site's pharmacy (the message never names the content)."""
    if kit.site_id != site.pk:
        raise ValidationError(
            _("kit %(number)s: the kit is not at site %(site)s; dispense it where it is.")
            % {"number": kit.number, "site": site.code}
        )


def _dispensable(kit: Kit, site: StudySite) -> Subject:
    """Refuse a kit that is not assigned to a patient of ``site``; return the patient."""
    _at_site(kit, site)
    if kit.status != KitStatus.ASSIGNED or kit.subject is None:
        raise ValidationError(
            _("kit %(number)s: only a kit assigned to a patient's visit is dispensed.")
            % {"number": kit.number}
        )
    subject = kit.subject
    if subject.site_id != site.pk:
        raise ValidationError(
            _("kit %(number)s: %(subject)s is followed at another site now.")
            % {"number": kit.number, "subject": subject.identifier}
        )
    return subject


def _returnable(
    kit: Kit, site: StudySite, quantity: Decimal | int | str
) -> tuple[Decimal, Subject]:
    """Refuse a kit that is not dispensed from ``site`` or more back than it held; return the
    unused quantity and the patient."""
    _at_site(kit, site)
    if kit.status != KitStatus.DISPENSED or kit.subject is None:
        raise ValidationError(
            _("kit %(number)s: only a dispensed kit comes back.") % {"number": kit.number}
        )
    unused = _positive(quantity, "quantity", zero=True)
    if unused > kit.quantity:
        raise ValidationError(
            _("quantity: the kit held %(held)s when dispensed.") % {"held": kit.quantity}
        )
    return unused, kit.subject


def _dispensed_to(dispensed_to: str) -> str:
    if not dispensed_to.strip():
        raise ValidationError(_("dispensed_to: say to whom the kit was handed."))
    return dispensed_to.strip()


def _positive(quantity: Decimal | int | str, field: str, *, zero: bool = False) -> Decimal:
    value = Decimal(str(quantity))
    if value < 0 or (value == 0 and not zero):
        raise ValidationError(
            _("%(field)s: the quantity must be more than zero.") % {"field": field}
            if not zero
            else _("%(field)s: the quantity cannot be negative.") % {"field": field}
        )
    return value


def kit_dispense(
    *,
    actor: Actor,
    study: Study,
    site: StudySite,
    number: str,
    on: date,
    dispensed_to: str,
    quantity: Decimal | int | str | None = None,
) -> Dispensing:
    """Record that the pharmacy of ``site`` handed over a kit assigned to a subject; return the
    dispensing. Refused at another site than the kit's and the subject's."""
    pharmacist_require(actor, study, site)
    _dispensed_to(dispensed_to)
    with transaction.atomic():
        kit = _kit_locked(study, number)
        subject = _dispensable(kit, site)
        given = kit.quantity if quantity is None else _positive(quantity, "quantity")
        if given > kit.quantity:
            raise ValidationError(_("quantity: the kit holds %(held)s.") % {"held": kit.quantity})
        now = utc_now()
        dispensing = Dispensing.objects.create(
            study=study,
            environment=kit.environment,
            site=site,
            subject=subject,
            kit=kit,
            product=kit.batch.product,
            quantity=given,
            event=kit.event,
            occurrence=kit.occurrence,
            dispensed_on=on,
            dispensed_to=dispensed_to.strip(),
            dispensed_by=actor_name(actor),
            recorded_at=now,
        )
        kit.status, kit.updated_at = KitStatus.DISPENSED, now
        kit.save(update_fields=["status", "updated_at"])
        movement_record(
            actor=actor,
            kind=StockMovement.Kind.DISPENSED,
            study=study,
            environment=kit.environment,
            site=site,
            kit=kit,
            quantity=given,
            subject=subject,
            at=now,
            details={"on": on, "to": dispensing.dispensed_to, "event": kit.event},
        )
    return dispensing


def kit_replace(*, actor: Actor, study: Study, site: StudySite, number: str, reason: str) -> Kit:
    """Set aside a damaged kit assigned (or dispensed) to a subject's visit and assign another
    of the same content in its place; return the new kit. A reason is required."""
    pharmacist_require(actor, study, site)
    if not reason.strip():
        raise ValidationError(_("reason: say why the kit is replaced."))
    with transaction.atomic():
        kit = _kit_locked(study, number)
        _at_site(kit, site)
        if kit.status not in (KitStatus.ASSIGNED, KitStatus.DISPENSED) or kit.subject is None:
            raise ValidationError(
                _("kit %(number)s: only a kit assigned to a patient's visit is replaced.")
                % {"number": kit.number}
            )
        subject = Subject.objects.select_related("study", "site").get(pk=kit.subject.pk)
        now = utc_now()
        kit.status, kit.updated_at = KitStatus.DAMAGED, now
        kit.save(update_fields=["status", "updated_at"])
        movement_record(
            actor=actor,
            kind=StockMovement.Kind.DAMAGED,
            study=study,
            environment=kit.environment,
            site=site,
            kit=kit,
            quantity=kit.quantity,
            subject=subject,
            reason=reason,
            at=now,
        )
        plan = pharmacy_plan(study)
        on = now.date()
        lasts_until = (
            next_dispensing_day(subject, plan, after=on, current=(kit.event, kit.occurrence or 1))
            if plan
            else None
        )
        replacement = _take_one(
            actor=actor,
            subject=subject,
            content=kit.content,
            product=kit.batch.product,
            event=kit.event,
            occurrence=kit.occurrence or 1,
            on=on,
            lasts_until=lasts_until,
            at=now,
            reason=reason,
        )
        movement_record(
            actor=actor,
            kind=StockMovement.Kind.REPLACED,
            study=study,
            environment=kit.environment,
            site=site,
            kit=kit,
            subject=subject,
            reason=reason,
            at=now,
            details={"replaced_by": replacement.number},
        )
    return replacement


def kit_return(
    *,
    actor: Actor,
    study: Study,
    site: StudySite,
    number: str,
    on: date,
    quantity: Decimal | int | str = 0,
    note: str = "",
) -> Return:
    """Record a kit the patient brought back to the site's pharmacy, with the unused quantity
    in it (0: an empty box); return the return."""
    pharmacist_require(actor, study, site)
    with transaction.atomic():
        kit = _kit_locked(study, number)
        unused, patient = _returnable(kit, site, quantity)
        now = utc_now()
        returned = Return.objects.create(
            study=study,
            environment=kit.environment,
            site=site,
            subject=patient,
            kit=kit,
            product=kit.batch.product,
            quantity=unused,
            returned_on=on,
            note=note,
            recorded_by=actor_name(actor),
            recorded_at=now,
        )
        kit.status, kit.updated_at = KitStatus.RETURNED, now
        kit.save(update_fields=["status", "updated_at"])
        movement_record(
            actor=actor,
            kind=StockMovement.Kind.RETURNED,
            study=study,
            environment=kit.environment,
            site=site,
            kit=kit,
            quantity=unused,
            subject=patient,
            reason=note,
            at=now,
            details={"on": on},
        )
    return returned


def _witnessed(witness: str, certificate: str) -> tuple[str, str]:
    if not witness.strip():
        raise ValidationError(_("witness: name the person who witnessed the destruction."))
    if not certificate.strip():
        raise ValidationError(_("certificate: give the destruction certificate's reference."))
    return witness.strip(), certificate.strip()


def kits_destroy(
    *,
    actor: Actor,
    study: Study,
    site: StudySite,
    numbers: Sequence[str],
    on: date,
    witness: str,
    certificate: str,
) -> list[Destruction]:
    """Record the destruction of returned, damaged or expired kits of the site, all or none."""
    pharmacist_require(actor, study, site)
    witness, certificate = _witnessed(witness, certificate)
    if not numbers:
        raise ValidationError(_("kits: name the kits destroyed."))
    destroyed = []
    with transaction.atomic():
        now = utc_now()
        for number in numbers:
            kit = _kit_locked(study, number)
            _at_site(kit, site)
            if kit.status not in DESTROYABLE:
                raise ValidationError(
                    _("kit %(number)s: only a returned, damaged or expired kit is destroyed.")
                    % {"number": kit.number}
                )
            destroyed.append(
                Destruction.objects.create(
                    study=study,
                    environment=kit.environment,
                    site=site,
                    kit=kit,
                    product=kit.batch.product,
                    quantity=kit.quantity,
                    destroyed_on=on,
                    witness=witness,
                    certificate=certificate,
                    recorded_by=actor_name(actor),
                    recorded_at=now,
                )
            )
            kit.status, kit.updated_at = KitStatus.DESTROYED, now
            kit.save(update_fields=["status", "updated_at"])
            movement_record(
                actor=actor,
                kind=StockMovement.Kind.DESTROYED,
                study=study,
                environment=kit.environment,
                site=site,
                kit=kit,
                quantity=kit.quantity,
                reason=_("destroyed, witness %(witness)s, certificate %(certificate)s")
                % {"witness": witness, "certificate": certificate},
                at=now,
                details={"on": on, "witness": witness, "certificate": certificate},
            )
    return destroyed


# --- Hospital stock mode: products and quantities, no kits --------------------------------


def _product(study: Study, product: str) -> str:
    plan = pharmacy_plan(study)
    if plan is None:
        raise ValidationError(_("this study has no pharmacy section in its design."))
    codes = set(plan.product_codes())
    if product not in codes:
        raise ValidationError(
            _("product: %(product)r is not a product of the study.") % {"product": product}
        )
    return product


def product_receive(
    *,
    actor: Actor,
    study: Study,
    site: StudySite,
    product: str,
    quantity: Decimal | int | str,
    on: date,
    reason: str = "",
) -> StockMovement:
    """Hospital stock: record a quantity of a product taken into the study's stock at a site."""
    pharmacist_require(actor, study, site)
    product = _product(study, product)
    amount = _positive(quantity, "quantity")
    with transaction.atomic():
        return movement_record(
            actor=actor,
            kind=StockMovement.Kind.RECEIVED,
            study=study,
            environment=environment_written(study),
            site=site,
            product=product,
            quantity=amount,
            reason=reason,
            details={"on": on},
        )


def product_dispense(
    *,
    actor: Actor,
    study: Study,
    site: StudySite,
    subject: Subject,
    product: str,
    quantity: Decimal | int | str,
    on: date,
    dispensed_to: str,
    event: str = "",
    occurrence: int | None = None,
) -> Dispensing:
    """Hospital stock: record a quantity of a product dispensed for a subject of the site."""
    pharmacist_require(actor, study, site)
    product = _product(study, product)
    amount = _positive(quantity, "quantity")
    if subject.site_id != site.pk:
        raise ValidationError(
            _("subject: %(subject)s is not followed at site %(site)s.")
            % {"subject": subject.identifier, "site": site.code}
        )
    if not dispensed_to.strip():
        raise ValidationError(_("dispensed_to: say to whom the product was handed."))
    with transaction.atomic():
        now = utc_now()
        dispensing = Dispensing.objects.create(
            study=study,
            environment=subject.environment,
            site=site,
            subject=subject,
            product=product,
            quantity=amount,
            event=event,
            occurrence=occurrence,
            dispensed_on=on,
            dispensed_to=dispensed_to.strip(),
            dispensed_by=actor_name(actor),
            recorded_at=now,
        )
        movement_record(
            actor=actor,
            kind=StockMovement.Kind.DISPENSED,
            study=study,
            environment=subject.environment,
            site=site,
            product=product,
            quantity=amount,
            subject=subject,
            at=now,
            details={"on": on, "to": dispensing.dispensed_to, "event": event},
        )
    return dispensing


def product_return(
    *,
    actor: Actor,
    study: Study,
    site: StudySite,
    subject: Subject,
    product: str,
    quantity: Decimal | int | str,
    on: date,
    note: str = "",
) -> Return:
    """Hospital stock: record an unused quantity a subject brought back."""
    pharmacist_require(actor, study, site)
    product = _product(study, product)
    amount = _positive(quantity, "quantity")
    if subject.site_id != site.pk:
        raise ValidationError(
            _("subject: %(subject)s is not followed at site %(site)s.")
            % {"subject": subject.identifier, "site": site.code}
        )
    with transaction.atomic():
        now = utc_now()
        returned = Return.objects.create(
            study=study,
            environment=subject.environment,
            site=site,
            subject=subject,
            product=product,
            quantity=amount,
            returned_on=on,
            note=note,
            recorded_by=actor_name(actor),
            recorded_at=now,
        )
        movement_record(
            actor=actor,
            kind=StockMovement.Kind.RETURNED,
            study=study,
            environment=subject.environment,
            site=site,
            product=product,
            quantity=amount,
            subject=subject,
            reason=note,
            at=now,
            details={"on": on},
        )
    return returned


def product_destroy(
    *,
    actor: Actor,
    study: Study,
    site: StudySite,
    product: str,
    quantity: Decimal | int | str,
    on: date,
    witness: str,
    certificate: str,
) -> Destruction:
    """Hospital stock: record a quantity of a product destroyed at the site."""
    pharmacist_require(actor, study, site)
    product = _product(study, product)
    amount = _positive(quantity, "quantity")
    witness, certificate = _witnessed(witness, certificate)
    with transaction.atomic():
        now = utc_now()
        destruction = Destruction.objects.create(
            study=study,
            environment=environment_written(study),
            site=site,
            product=product,
            quantity=amount,
            destroyed_on=on,
            witness=witness,
            certificate=certificate,
            recorded_by=actor_name(actor),
            recorded_at=now,
        )
        movement_record(
            actor=actor,
            kind=StockMovement.Kind.DESTROYED,
            study=study,
            environment=destruction.environment,
            site=site,
            product=product,
            quantity=amount,
            at=now,
            details={"on": on, "witness": witness, "certificate": certificate},
        )
    return destruction
