"""Temperature excursions: the site's pharmacist reports one, naming the kits (or a received
shipment) concerned, and they are quarantined at once; the sponsor's supply manager decides for
each kit, with a reason, whether it is usable (back to the available stock) or destroyed.

A quarantined kit is never assigned: the assignment takes AVAILABLE kits only. The decision is
the sponsor's, not the site's, because it rests on the product's stability data, which the site
does not hold; it is taken blinded (the pages show kit numbers, batches and expiries, never a
content), which is right since a stability decision does not depend on the arm.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from django.db import transaction
from django.utils.translation import gettext as _

from carnet.accounts.models import StudySite
from carnet.accounts.permissions import Actor
from carnet.audit.services import audit_record
from carnet.core.clock import utc_now
from carnet.core.errors import ValidationError
from carnet.pharmacy.access import pharmacist_require, supply_require
from carnet.pharmacy.ledger import actor_label, kit_record, movements_record
from carnet.pharmacy.models import (
    Excursion,
    ExcursionDecision,
    ExcursionKit,
    ExcursionStatus,
    Kit,
    KitStatus,
    Shipment,
    StockMovement,
)
from carnet.studies.models import Study
from carnet.subjects.environments import environment_written


def _excursion_record(excursion: Excursion, kits: Sequence[Kit]) -> dict[str, object]:
    return {
        "site": excursion.site.code,
        "shipment": excursion.shipment.number if excursion.shipment else "",
        "minimum_temperature": excursion.minimum_temperature,
        "maximum_temperature": excursion.maximum_temperature,
        "duration_minutes": excursion.duration_minutes,
        "description": excursion.description,
        "kits": [kit.number for kit in kits],
    }


@transaction.atomic
def excursion_report(
    *,
    actor: Actor,
    study: Study,
    site: StudySite,
    description: str,
    numbers: Sequence[str] = (),
    shipment: Shipment | None = None,
    minimum_temperature: Decimal | None = None,
    maximum_temperature: Decimal | None = None,
    duration_minutes: int | None = None,
) -> Excursion:
    """Report an excursion at the site (its pharmacist) and quarantine the kits concerned: the
    ones named, or every available kit received in ``shipment``."""
    pharmacist_require(actor, study, site)
    if site.study_id != study.pk:
        raise ValidationError(_("site: not a site of this study."))
    if not description.strip():
        raise ValidationError(_("description: say what happened (where, when, how long)."))
    environment = environment_written(study)
    kits_query = Kit.objects.select_for_update(of=("self",)).select_related(
        "batch", "shipment", "site"
    )
    if shipment is not None:
        if shipment.site_id != site.pk:
            raise ValidationError(
                _("shipment %(shipment)s: it was not sent to this site.")
                % {"shipment": shipment.number}
            )
        kits = list(
            kits_query.filter(shipment=shipment, site=site, status=KitStatus.AVAILABLE).order_by(
                "number"
            )
        )
        if not kits:
            raise ValidationError(
                _("shipment %(shipment)s: it has no kit available at the site to quarantine.")
                % {"shipment": shipment.number}
            )
    else:
        wanted = list(dict.fromkeys(n.strip() for n in numbers if n.strip()))
        if not wanted:
            raise ValidationError(_("Name the kits concerned, or the shipment."))
        found = {
            k.number: k
            for k in kits_query.filter(study=study, environment=environment, number__in=wanted)
        }
        for number in wanted:
            kit = found.get(number)
            if kit is None or kit.site_id != site.pk:
                raise ValidationError(
                    _("kit %(kit)s: it is not in the stock of site %(site)s.")
                    % {"kit": number, "site": site.code}
                )
            if kit.status != KitStatus.AVAILABLE:
                raise ValidationError(
                    _("kit %(kit)s: it is %(status)s, not in the available stock.")
                    % {"kit": number, "status": kit.status}
                )
        kits = [found[number] for number in wanted]
    excursion = Excursion.objects.create(
        study=study,
        environment=environment,
        site=site,
        shipment=shipment,
        minimum_temperature=minimum_temperature,
        maximum_temperature=maximum_temperature,
        duration_minutes=duration_minutes,
        description=description.strip(),
        reported_at=utc_now(),
        reported_by=actor_label(actor),
    )
    ExcursionKit.objects.bulk_create([ExcursionKit(excursion=excursion, kit=kit) for kit in kits])
    audit_record(
        actor=actor,
        action="pharmacy.excursion_reported",
        target=excursion,
        new=_excursion_record(excursion, kits),
        reason=excursion.description,
        chain=study.audit_chain,
    )
    now = utc_now()
    changes = []
    for kit in kits:
        old = kit_record(kit)
        kit.status, kit.updated_at = KitStatus.QUARANTINED, now
        kit.save(update_fields=["status", "updated_at"])
        changes.append((kit, old))
    movements_record(
        actor=actor,
        study=study,
        kind=StockMovement.Kind.QUARANTINED,
        changes=changes,
        reason=_("temperature excursion %(excursion)s: %(description)s")
        % {"excursion": excursion.pk, "description": excursion.description},
    )
    return excursion


@transaction.atomic
def excursion_decide(
    *,
    actor: Actor,
    excursion: Excursion,
    decision: str,
    reason: str,
    numbers: Sequence[str] = (),
) -> Excursion:
    """Decide (the sponsor's supply manager) on the excursion's kits still waiting, or on the
    ones named: usable (available again) or destroyed, with a reason."""
    excursion = (
        Excursion.objects.select_for_update(of=("self",))
        .select_related("site")
        .get(pk=excursion.pk)
    )
    supply_require(actor, excursion.study)
    if decision not in ExcursionDecision.values:
        raise ValidationError(_("decision: choose usable or destroyed."))
    if not reason.strip():
        raise ValidationError(_("reason: give the reason (e.g. the stability data consulted)."))
    waiting = {
        entry.kit.number: entry
        for entry in excursion.kits.select_related("kit", "kit__batch", "kit__site").filter(
            decision=""
        )
    }
    wanted = list(dict.fromkeys(n.strip() for n in numbers if n.strip())) or list(waiting)
    if not wanted:
        raise ValidationError(
            _("excursion %(excursion)s: every kit has its decision already.")
            % {"excursion": excursion.pk}
        )
    for number in wanted:
        if number not in waiting:
            raise ValidationError(
                _("kit %(kit)s: it does not wait for a decision in excursion %(excursion)s.")
                % {"kit": number, "excursion": excursion.pk}
            )
    now = utc_now()
    label = actor_label(actor)
    changes = []
    for number in wanted:
        entry = waiting[number]
        kit = (
            Kit.objects.select_for_update(of=("self",))
            .select_related("batch", "site")
            .get(pk=entry.kit_id)
        )
        entry.decision, entry.reason, entry.decided_at, entry.decided_by = (
            decision,
            reason.strip(),
            now,
            label,
        )
        entry.save(update_fields=["decision", "reason", "decided_at", "decided_by"])
        old = kit_record(kit)
        kit.status = (
            KitStatus.AVAILABLE if decision == ExcursionDecision.USABLE else KitStatus.DESTROYED
        )
        kit.updated_at = now
        kit.save(update_fields=["status", "updated_at"])
        changes.append((kit, old))
    movements_record(
        actor=actor,
        study=excursion.study,
        kind=(
            StockMovement.Kind.RELEASED
            if decision == ExcursionDecision.USABLE
            else StockMovement.Kind.DESTROYED
        ),
        changes=changes,
        reason=_("temperature excursion %(excursion)s, %(decision)s: %(reason)s")
        % {"excursion": excursion.pk, "decision": decision, "reason": reason.strip()},
    )
    if not excursion.kits.filter(decision="").exists():
        excursion.status = ExcursionStatus.DECIDED
        excursion.save(update_fields=["status"])
    audit_record(
        actor=actor,
        action="pharmacy.excursion_decided",
        target=excursion,
        new={"decision": decision, "kits": wanted, "status": excursion.status},
        reason=reason.strip(),
        chain=excursion.study.audit_chain,
    )
    return excursion
