"""The stock ledger's one writer: every move of stock, a kit's (created, shipped, received,
quarantined, assigned, dispensed, returned, destroyed…) or a quantity of a hospital's product,
is a `StockMovement` row and an audit event of the study's chain, written together inside the
caller's transaction by `ledger_record`.

Two shapes of audit event go through it, as their readers expect them:

- a kit's change of state (`movements_record`): ``pharmacy.kit_<kind>``, the kit as target, its
  state before and after (number, status, site, expiry, shipment);
- a dispensing-side movement (`movement_record`): ``pharmacy.<kind>``, the kit's number or the
  product as target, the site, subject, product and quantity.

Neither records a kit's content (the arm): the audit trail is read by blinded people.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import models

from carnet.accounts.models import StudySite, User
from carnet.audit.services import Actor, AuditEntry, audit_record_many
from carnet.core.clock import utc_now
from carnet.pharmacy.models import Kit, StockMovement
from carnet.studies.models import Study
from carnet.subjects.models import Subject


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


@dataclass(frozen=True)
class LedgerEntry:
    """One movement to write: the ledger row's fields and the audit event that goes with it."""

    kind: str  # a StockMovement.Kind
    environment: str
    site: StudySite | None
    action: str
    target: models.Model | tuple[str, str]
    kit: Kit | None = None
    product: str = ""
    quantity: Any = 0
    subject: Subject | None = None
    old: Any = None
    new: Any = None
    # The entry's own reason and moment, when one call writes movements of several kinds (a
    # visit's assignment, dispensing and return); else the call's.
    reason: str | None = None
    at: datetime | None = None


def ledger_record(
    *,
    actor: Actor,
    study: Study,
    entries: Sequence[LedgerEntry],
    reason: str = "",
    at: datetime | None = None,
) -> list[StockMovement]:
    """Write the ledger rows and their audit events (in the caller's transaction); return the
    rows, in the order of ``entries``."""
    at = at or utc_now()
    label = actor_label(actor)
    rows = [
        StockMovement(
            study=study,
            environment=entry.environment,
            kind=entry.kind,
            kit=entry.kit,
            product=entry.product,
            quantity=entry.quantity,
            site=entry.site,
            subject=entry.subject,
            actor=label,
            reason=reason if entry.reason is None else entry.reason,
            at=entry.at or at,
        )
        for entry in entries
    ]
    StockMovement.objects.bulk_create(rows)
    audit_record_many(
        actor=actor,
        entries=[
            AuditEntry(
                action=entry.action,
                target=entry.target,
                old=entry.old,
                new=entry.new,
                reason=reason if entry.reason is None else entry.reason,
            )
            for entry in entries
        ],
        chain=study.audit_chain,
    )
    return rows


def movements_record(
    *,
    actor: Actor,
    study: Study,
    kind: str,
    changes: Sequence[tuple[Kit, dict[str, Any]]],
    reason: str = "",
) -> list[StockMovement]:
    """Record the kits' changes of state: each (kit, its state before) pair, the kit saved
    already; ``kind`` is a `StockMovement.Kind`."""
    return ledger_record(
        actor=actor,
        study=study,
        entries=[
            LedgerEntry(
                kind=kind,
                environment=kit.environment,
                site=kit.site,
                action=f"pharmacy.kit_{kind}",
                target=kit,
                kit=kit,
                product=kit.batch.product,
                quantity=kit.quantity,
                subject=kit.subject,
                old=old or None,
                new=kit_record(kit),
            )
            for kit, old in changes
        ],
        reason=reason,
    )


def movement_entry(
    *,
    kind: str,
    environment: str,
    site: StudySite | None,
    kit: Kit | None = None,
    product: str = "",
    quantity: Any = 0,
    subject: Subject | None = None,
    reason: str | None = None,
    at: datetime | None = None,
    details: dict[str, Any] | None = None,
) -> LedgerEntry:
    """Return the ledger entry of one dispensing-side movement (see `movement_record`), for
    services writing several at once."""
    product = product or (kit.batch.product if kit else "")
    return LedgerEntry(
        kind=kind,
        environment=environment,
        site=site,
        action=f"pharmacy.{kind}",
        target=("pharmacy_kit", kit.number) if kit else ("pharmacy_product", product),
        kit=kit,
        product=product,
        quantity=quantity,
        subject=subject,
        new={
            "environment": environment,
            "site": site.code if site else None,
            "subject": subject.identifier if subject else None,
            "product": product,
            "quantity": str(quantity),
            **(details or {}),
        },
        reason=reason,
        at=at,
    )


def movement_record(
    *,
    actor: Actor,
    kind: str,
    study: Study,
    environment: str,
    site: StudySite | None,
    kit: Kit | None = None,
    product: str = "",
    quantity: Any = 0,
    subject: Subject | None = None,
    reason: str = "",
    at: datetime | None = None,
    details: dict[str, Any] | None = None,
) -> StockMovement:
    """Record one dispensing-side movement of a kit or of a quantity of a product (assignment,
    dispensing, return, destruction, hospital stock)."""
    (row,) = ledger_record(
        actor=actor,
        study=study,
        entries=[
            movement_entry(
                kind=kind,
                environment=environment,
                site=site,
                kit=kit,
                product=product,
                quantity=quantity,
                subject=subject,
                details=details,
            )
        ],
        reason=reason,
        at=at,
    )
    return row
