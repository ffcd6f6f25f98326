"""Shipments from the depot to a site's pharmacy: prepared with kits, sent (the kits in
transit), received by the site's pharmacist kit by kit (scanned or typed numbers), closed with
the temperature record; kits not received are flagged missing, kits received broken damaged.

A kit scanned at receipt that is not in the shipment, or that was received already, is refused
with a message naming it (never its content).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from django.db import transaction
from django.utils.translation import gettext as _

from carnet.accounts.models import StudySite
from carnet.accounts.permissions import Actor
from carnet.audit.services import audit_record
from carnet.core.clock import utc_now
from carnet.core.errors import ValidationError
from carnet.pharmacy.access import pharmacist_require, supply_require
from carnet.pharmacy.excursions import excursion_report
from carnet.pharmacy.ledger import actor_label, kit_record, movements_record
from carnet.pharmacy.models import Kit, KitStatus, Shipment, ShipmentStatus, StockMovement
from carnet.pharmacy.supply import kit_plan
from carnet.studies.models import Study
from carnet.subjects.environments import environment_written


def kit_numbers(text: str) -> list[str]:
    """Return the kit numbers of a scanned or typed list (one per line, or separated by commas
    or spaces), in order, each once."""
    return list(dict.fromkeys(n for n in text.replace(",", " ").split() if n))


def _shipment_record(shipment: Shipment) -> dict[str, object]:
    return {
        "number": shipment.number,
        "site": shipment.site.code,
        "status": shipment.status,
        "kits": shipment.kits.count(),
    }


@transaction.atomic
def shipment_create(
    *, actor: Actor, study: Study, site: StudySite, numbers: Sequence[str], today: date
) -> Shipment:
    """Prepare a shipment of depot kits for a site (the depot's supply managers). Every kit
    must be at the depot, not in another shipment, of a released batch and not expired."""
    supply_require(actor, study)
    kit_plan(study)
    if site.study_id != study.pk:
        raise ValidationError(_("site: not a site of this study."))
    wanted = list(dict.fromkeys(n.strip() for n in numbers if n.strip()))
    if not wanted:
        raise ValidationError(_("Name the kits to ship."))
    environment = environment_written(study)
    found = {
        k.number: k
        for k in Kit.objects.select_for_update(of=("self",))
        .select_related("batch")
        .filter(study=study, environment=environment, number__in=wanted)
    }
    for number in wanted:
        kit = found.get(number)
        if kit is None:
            raise ValidationError(_("kit %(kit)s: no such kit.") % {"kit": number})
        if kit.status != KitStatus.AT_DEPOT or kit.shipment_id is not None:
            raise ValidationError(
                _("kit %(kit)s: it is not free at the depot (%(status)s).")
                % {"kit": number, "status": kit.status}
            )
        if kit.batch.released_on is None:
            raise ValidationError(
                _("kit %(kit)s: its batch %(batch)s is not released by the qualified person.")
                % {"kit": number, "batch": kit.batch.number}
            )
        if kit.expiry <= today:
            raise ValidationError(
                _("kit %(kit)s: it expired on %(expiry)s.")
                % {"kit": number, "expiry": kit.expiry.isoformat()}
            )
    count = Shipment.objects.filter(study=study, environment=environment).count()
    shipment = Shipment.objects.create(
        study=study,
        environment=environment,
        number=f"S{site.code}-{count + 1:04}",
        site=site,
        created_at=utc_now(),
        created_by=actor_label(actor),
    )
    Kit.objects.filter(pk__in=[found[n].pk for n in wanted]).update(
        shipment=shipment, updated_at=utc_now()
    )
    audit_record(
        actor=actor,
        action="pharmacy.shipment_created",
        target=shipment,
        new={**_shipment_record(shipment), "kit_numbers": wanted},
        chain=study.audit_chain,
    )
    return shipment


@transaction.atomic
def shipment_send(*, actor: Actor, shipment: Shipment) -> Shipment:
    """Record that the shipment left the depot: its kits are in transit."""
    shipment = Shipment.objects.select_for_update(of=("self",)).get(pk=shipment.pk)
    supply_require(actor, shipment.study)
    if shipment.status != ShipmentStatus.PREPARED:
        raise ValidationError(
            _("shipment %(shipment)s: it was sent already.") % {"shipment": shipment.number}
        )
    kits = list(shipment.kits.select_for_update(of=("self",)).select_related("batch", "shipment"))
    if not kits:
        raise ValidationError(
            _("shipment %(shipment)s: it has no kit.") % {"shipment": shipment.number}
        )
    now = utc_now()
    shipment.status, shipment.sent_at, shipment.sent_by = (
        ShipmentStatus.SENT,
        now,
        actor_label(actor),
    )
    shipment.save(update_fields=["status", "sent_at", "sent_by"])
    changes = []
    for kit in kits:
        old = kit_record(kit)
        kit.status, kit.updated_at = KitStatus.IN_TRANSIT, now
        changes.append((kit, old))
    # One UPDATE for the box: the kits read (and locked) above are the shipment's, all of them.
    shipment.kits.update(status=KitStatus.IN_TRANSIT, updated_at=now)
    movements_record(
        actor=actor,
        study=shipment.study,
        kind=StockMovement.Kind.SHIPPED,
        changes=changes,
        reason=_("shipment %(shipment)s to site %(site)s")
        % {"shipment": shipment.number, "site": shipment.site.code},
    )
    return shipment


def _shipment_receivable(actor: Actor, shipment: Shipment) -> Shipment:
    """Return the shipment, locked, once the actor may receive its kits and it is sent and not
    closed; refuse otherwise."""
    shipment = (
        Shipment.objects.select_for_update(of=("self",)).select_related("site").get(pk=shipment.pk)
    )
    pharmacist_require(actor, shipment.study, shipment.site)
    if shipment.status == ShipmentStatus.PREPARED:
        raise ValidationError(
            _("shipment %(shipment)s: it has not been sent yet.") % {"shipment": shipment.number}
        )
    if shipment.status == ShipmentStatus.RECEIVED:
        raise ValidationError(
            _("shipment %(shipment)s: its receipt is closed already.")
            % {"shipment": shipment.number}
        )
    return shipment


def _kit_receivable(shipment: Shipment, number: str, kit: Kit | None) -> Kit:
    """Return the kit scanned as ``number`` when it is in the shipment and still in transit;
    refuse it by its number otherwise."""
    if kit is None or kit.shipment_id != shipment.pk:
        raise ValidationError(
            _("kit %(kit)s: it is not in shipment %(shipment)s; set it aside and tell the depot.")
            % {"kit": number or "-", "shipment": shipment.number}
        )
    if kit.status != KitStatus.IN_TRANSIT:
        raise ValidationError(
            _("kit %(kit)s: it was received already (%(status)s).")
            % {"kit": number, "status": kit.status}
        )
    return kit


@transaction.atomic
def shipment_receive_kit(
    *, actor: Actor, shipment: Shipment, number: str, damaged: bool = False, note: str = ""
) -> Kit:
    """Receive one kit of a sent shipment at the site's pharmacy (its pharmacist): available,
    or damaged when it arrived broken. A kit that is not in the shipment, or was received
    already, is refused by its number."""
    shipment = _shipment_receivable(actor, shipment)
    number = number.strip()
    if damaged and not note.strip():
        raise ValidationError(_("kit %(kit)s: say what is damaged.") % {"kit": number})
    kit = _kit_receivable(
        shipment,
        number,
        Kit.objects.select_for_update(of=("self",))
        .select_related("batch", "shipment")
        .filter(study=shipment.study, environment=shipment.environment, number=number)
        .first(),
    )
    old = kit_record(kit)
    kit.status = KitStatus.DAMAGED if damaged else KitStatus.AVAILABLE
    kit.site, kit.updated_at = shipment.site, utc_now()
    kit.save(update_fields=["status", "site", "updated_at"])
    reason = _("received in shipment %(shipment)s") % {"shipment": shipment.number}
    movements_record(
        actor=actor,
        study=shipment.study,
        kind=StockMovement.Kind.RECEIVED,
        changes=[(kit, old)],
        reason=reason,
    )
    if damaged:
        movements_record(
            actor=actor,
            study=shipment.study,
            kind=StockMovement.Kind.DAMAGED,
            changes=[(kit, {**kit_record(kit), "status": KitStatus.AVAILABLE})],
            reason=note.strip(),
        )
    return kit


@transaction.atomic
def shipment_receive_kits(*, actor: Actor, shipment: Shipment, numbers: Sequence[str]) -> list[Kit]:
    """Receive, in one go, kits of a sent shipment that arrived whole (a box scanned at once):
    the same checks as `shipment_receive_kit` for each, in the order given, and the same ledger
    rows and audit events, one per kit. Any kit refused refuses them all, by its number; a
    number given twice is refused as received already. Return the kits received, in order."""
    shipment = _shipment_receivable(actor, shipment)
    wanted = [number.strip() for number in numbers]
    found = {
        kit.number: kit
        for kit in Kit.objects.select_for_update(of=("self",))
        .select_related("batch", "shipment")
        .filter(study=shipment.study, environment=shipment.environment, number__in=wanted)
    }
    now = utc_now()
    changes: list[tuple[Kit, dict[str, object]]] = []
    for number in wanted:
        kit = _kit_receivable(shipment, number, found.get(number))
        old = kit_record(kit)
        kit.status, kit.site, kit.updated_at = KitStatus.AVAILABLE, shipment.site, now
        changes.append((kit, old))
    kits = [kit for kit, _old in changes]
    Kit.objects.bulk_update(kits, ["status", "site", "updated_at"])
    movements_record(
        actor=actor,
        study=shipment.study,
        kind=StockMovement.Kind.RECEIVED,
        changes=changes,
        reason=_("received in shipment %(shipment)s") % {"shipment": shipment.number},
    )
    return kits


@transaction.atomic
def shipment_receipt_close(
    *,
    actor: Actor,
    shipment: Shipment,
    temperature_record: str,
    temperature_ok: bool,
) -> Shipment:
    """Close the receipt with the temperature record that travelled with the shipment: kits
    not scanned are flagged missing. When the temperature went out of range, an excursion
    quarantines the kits received (`excursions.excursion_report`)."""
    shipment = (
        Shipment.objects.select_for_update(of=("self",)).select_related("site").get(pk=shipment.pk)
    )
    pharmacist_require(actor, shipment.study, shipment.site)
    if shipment.status != ShipmentStatus.SENT:
        raise ValidationError(
            _("shipment %(shipment)s: only a sent shipment's receipt is closed.")
            % {"shipment": shipment.number}
        )
    if not temperature_record.strip():
        raise ValidationError(
            _("temperature_record: copy the logger's reading (minimum, maximum, duration).")
        )
    now = utc_now()
    shipment.status, shipment.received_at = ShipmentStatus.RECEIVED, now
    shipment.received_by = actor_label(actor)
    shipment.temperature_record = temperature_record.strip()
    shipment.temperature_ok = temperature_ok
    shipment.save()
    missing = []
    for kit in shipment.kits.select_for_update(of=("self",)).filter(status=KitStatus.IN_TRANSIT):
        old = kit_record(kit)
        kit.status, kit.site, kit.updated_at = KitStatus.MISSING, shipment.site, now
        kit.save(update_fields=["status", "site", "updated_at"])
        missing.append((kit, old))
    if missing:
        movements_record(
            actor=actor,
            study=shipment.study,
            kind=StockMovement.Kind.MISSING,
            changes=missing,
            reason=_("not found at the receipt of shipment %(shipment)s")
            % {"shipment": shipment.number},
        )
    audit_record(
        actor=actor,
        action="pharmacy.shipment_received",
        target=shipment,
        old={"status": ShipmentStatus.SENT},
        new={
            **_shipment_record(shipment),
            "temperature_record": shipment.temperature_record,
            "temperature_ok": temperature_ok,
            "missing": [kit.number for kit, _old in missing],
        },
        chain=shipment.study.audit_chain,
    )
    if not temperature_ok and shipment.kits.filter(status=KitStatus.AVAILABLE).exists():
        excursion_report(
            actor=actor,
            study=shipment.study,
            site=shipment.site,
            shipment=shipment,
            description=_("out of range during transport: %(record)s")
            % {"record": shipment.temperature_record},
        )
    return shipment
