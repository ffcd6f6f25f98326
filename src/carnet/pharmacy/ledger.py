"""The stock ledger's one writer: every move of a kit is a `StockMovement` row and an audit event
of the study's chain, written together inside the caller's transaction.

The audit event holds what a blinded reader of the audit trail may see: the kit's number,
status, site, expiry and the reason, never its content (the arm).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from carnet.accounts.models import User
from carnet.audit.services import Actor, AuditEntry, audit_record_many
from carnet.core.clock import utc_now
from carnet.pharmacy.models import Kit, StockMovement
from carnet.studies.models import Study


def actor_label(actor: Actor) -> str:
    """Return how the ledger names who acted (the account, or the command on the server)."""
    if isinstance(actor, User):
        return actor.display_name()
    return str(getattr(actor, "label", ""))


def kit_record(kit: Kit) -> dict[str, Any]:
    """Return what the audit trail keeps of a kit's state: everything but its content."""
    return {
        "number": kit.number,
        "status": kit.status,
        "site": kit.site.code if kit.site_id and kit.site else "",
        "expiry": kit.expiry,
        "shipment": kit.shipment.number if kit.shipment_id and kit.shipment else "",
    }


def movements_record(
    *,
    actor: Actor,
    study: Study,
    kind: str,
    changes: Sequence[tuple[Kit, dict[str, Any]]],
    reason: str = "",
) -> list[StockMovement]:
    """Record one ledger row and one audit event for each (kit, its state before) pair: the kit
    is saved already, ``kind`` is a `StockMovement.Kind`."""
    at = utc_now()
    label = actor_label(actor)
    rows = [
        StockMovement(
            study=study,
            environment=kit.environment,
            kind=kind,
            kit=kit,
            product=kit.batch.product,
            quantity=kit.quantity,
            site=kit.site,
            subject=kit.subject,
            actor=label,
            reason=reason,
            at=at,
        )
        for kit, _old in changes
    ]
    StockMovement.objects.bulk_create(rows)
    audit_record_many(
        actor=actor,
        entries=[
            AuditEntry(
                action=f"pharmacy.kit_{kind}",
                target=kit,
                old=old or None,
                new=kit_record(kit),
                reason=reason,
            )
            for kit, old in changes
        ],
        chain=study.audit_chain,
    )
    return rows
