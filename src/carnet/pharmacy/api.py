"""API of the pharmacy app. No logic here: selectors and services decide.

Stock: kits, shipments and temperature excursions of the sites one covers; a kit's ``content``
is null for everyone but unblinded roles, and counts are by status only.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema
from ninja.responses import Status

from carnet.accounts.models import User
from carnet.accounts.permissions import PermissionDenied, may, request_user
from carnet.accounts.roles import Action
from carnet.accounts.selectors import study_for_request
from carnet.pharmacy import inventory
from carnet.pharmacy.access import contents_visible, supply_require
from carnet.pharmacy.excursions import excursion_decide, excursion_report
from carnet.pharmacy.inventory import KitRow
from carnet.pharmacy.models import Batch, Excursion, Shipment
from carnet.pharmacy.shipments import (
    shipment_create,
    shipment_receipt_close,
    shipment_receive_kit,
    shipment_send,
)
from carnet.pharmacy.supply import batch_create, kits_generate, kits_import, kits_relabel
from carnet.studies.models import Study
from carnet.subjects.environments import environment_written
from carnet.subjects.services import site_today

router = Router(tags=["pharmacy"])


class PharmacyKitOut(Schema):
    number: str
    batch: str
    product: str
    expiry: date
    status: str
    site: str = Field(description="The site's code; empty at the depot")
    shipment: str
    content: str | None = Field(description="The arm it holds: null unless you are unblinded")


class PharmacyStockOut(Schema):
    site: str = Field(description="The site's code; empty for the depot")
    counts: dict[str, int] = Field(description="Kits in each status")
    available_by_content: dict[str, int] | None = Field(
        description="Available kits by content: null unless you are unblinded"
    )


class PharmacyBatchIn(Schema):
    product: str
    number: str
    expiry: date
    released_on: date | None = Field(None, description="The qualified person's release")


class PharmacyBatchOut(Schema):
    product: str
    number: str
    expiry: date
    released_on: date | None


class PharmacyKitsImportIn(Schema):
    file_name: str = ""
    content: str = Field(description="The manufacturer's CSV: kit, batch, content[, expiry]")
    sha256: str = Field(description="The SHA-256 given beside the file (sha256sum's line)")


class PharmacyKitsGenerateIn(Schema):
    batch: str
    per_content: int = Field(description="Kits of each arm")
    pattern: str = Field("K{seq:05}", description="Numbering, with {seq}")


class PharmacyKitsAddedOut(Schema):
    kits: int


class PharmacyRelabelIn(Schema):
    expiry: date
    reason: str
    kits: list[str] = Field(default_factory=list, description="Kit numbers (or a batch)")
    batch: str = ""


class PharmacyShipmentIn(Schema):
    site: str
    kits: list[str]


class PharmacyShipmentOut(Schema):
    number: str
    site: str
    status: str
    created_at: datetime
    created_by: str
    sent_at: datetime | None
    received_at: datetime | None
    received_by: str
    temperature_record: str
    temperature_ok: bool | None
    kits: int


class PharmacyReceiptIn(Schema):
    kit: str = Field(description="The kit's number, scanned or typed")
    damaged: bool = False
    note: str = Field("", description="What is damaged")


class PharmacyReceiptCloseIn(Schema):
    temperature_record: str
    temperature_ok: bool


class PharmacyExcursionIn(Schema):
    site: str
    description: str
    kits: list[str] = Field(default_factory=list)
    shipment: str = Field("", description="Or a received shipment: all its available kits")
    minimum_temperature: Decimal | None = None
    maximum_temperature: Decimal | None = None
    duration_minutes: int | None = None


class PharmacyExcursionKitOut(Schema):
    kit: str
    decision: str
    reason: str
    decided_by: str


class PharmacyExcursionOut(Schema):
    id: int
    site: str
    shipment: str
    status: str
    description: str
    minimum_temperature: Decimal | None
    maximum_temperature: Decimal | None
    duration_minutes: int | None
    reported_at: datetime
    reported_by: str
    kits: list[PharmacyExcursionKitOut]


class PharmacyDecisionIn(Schema):
    decision: str = Field(description="usable or destroyed")
    reason: str
    kits: list[str] = Field(default_factory=list, description="Empty: every kit still waiting")


def _reader(request: HttpRequest, identifier: str) -> tuple[User, Study]:
    user = request_user(request)
    study = study_for_request(request, identifier)
    if inventory.stock_scope(user, study).empty:
        raise PermissionDenied(_("You may not see the study's stock."))
    return user, study


def _kit(row: KitRow) -> dict[str, Any]:
    return row.__dict__


def _shipment(shipment: Shipment) -> dict[str, Any]:
    return {
        "number": shipment.number,
        "site": shipment.site.code,
        "status": shipment.status,
        "created_at": shipment.created_at,
        "created_by": shipment.created_by,
        "sent_at": shipment.sent_at,
        "received_at": shipment.received_at,
        "received_by": shipment.received_by,
        "temperature_record": shipment.temperature_record,
        "temperature_ok": shipment.temperature_ok,
        "kits": shipment.kits.count(),
    }


def _excursion(user: User, excursion: Excursion) -> dict[str, Any]:
    return {
        "id": excursion.pk,
        "site": excursion.site.code,
        "shipment": excursion.shipment.number if excursion.shipment else "",
        "status": excursion.status,
        "description": excursion.description,
        "minimum_temperature": excursion.minimum_temperature,
        "maximum_temperature": excursion.maximum_temperature,
        "duration_minutes": excursion.duration_minutes,
        "reported_at": excursion.reported_at,
        "reported_by": excursion.reported_by,
        "kits": [
            {
                "kit": row.kit.number,
                "decision": row.decision,
                "reason": row.reason,
                "decided_by": row.decided_by,
            }
            for row in inventory.excursion_kits(user, excursion)
        ],
    }


# --- reads ---------------------------------------------------------------------------------------


@router.get(
    "/{identifier}/pharmacy/stock",
    response=list[PharmacyStockOut],
    summary="Kits by status at each site whose stock I see (and the depot, for its managers)",
)
def pharmacy_stock(request: HttpRequest, identifier: str) -> list[Any]:
    user, study = _reader(request, identifier)
    places: list[Any] = list(inventory.stock_sites(user, study))
    if inventory.may_read_depot(user, study):
        places.insert(0, None)
    unblinded = contents_visible(user, study)
    return [
        {
            "site": site.code if site else "",
            "counts": dict(inventory.stock_by_status(user, study, site=site)),
            "available_by_content": (
                inventory.stock_by_content(user, study, site=site) if unblinded else None
            ),
        }
        for site in places
    ]


@router.get(
    "/{identifier}/pharmacy/kits",
    response=list[PharmacyKitOut],
    summary="The kits of a site (or of every site I see), by number; content for the unblinded",
)
def pharmacy_kits(
    request: HttpRequest, identifier: str, site: str = "", status: str = ""
) -> list[Any]:
    user, study = _reader(request, identifier)
    sites = (
        [inventory.stock_site(user, study, site)] if site else inventory.stock_sites(user, study)
    )
    rows: list[KitRow] = []
    for found in sites:
        rows += inventory.kits_of(user, study, site=found, status=status)
    return [_kit(row) for row in rows]


@router.get(
    "/{identifier}/pharmacy/shipments",
    response=list[PharmacyShipmentOut],
    summary="Shipments to the sites whose stock I see, latest first",
)
def pharmacy_shipments(request: HttpRequest, identifier: str) -> list[Any]:
    user, study = _reader(request, identifier)
    return [_shipment(s) for s in inventory.shipments_of(user, study)]


@router.get(
    "/{identifier}/pharmacy/excursions",
    response=list[PharmacyExcursionOut],
    summary="Temperature excursions at the sites whose stock I see, latest first",
)
def pharmacy_excursions(request: HttpRequest, identifier: str) -> list[Any]:
    user, study = _reader(request, identifier)
    return [_excursion(user, e) for e in inventory.excursions_of(user, study)]


# --- the depot -----------------------------------------------------------------------------------


def _supplier(request: HttpRequest, identifier: str) -> tuple[User, Study]:
    user = request_user(request)
    study = study_for_request(request, identifier)
    supply_require(user, study)
    return user, study


def _batch(study: Study, number: str) -> Batch:
    from carnet.core.errors import ValidationError

    batch = Batch.objects.filter(
        study=study, environment=environment_written(study), number=number
    ).first()
    if batch is None:
        raise ValidationError(_("batch: there is no batch %(batch)s.") % {"batch": number})
    return batch


@router.post(
    "/{identifier}/pharmacy/batches",
    response={201: PharmacyBatchOut},
    summary="Record a manufacturer's batch (the sponsor's supply managers; audited)",
)
def pharmacy_batch_create(request: HttpRequest, identifier: str, body: PharmacyBatchIn) -> Status:
    user, study = _supplier(request, identifier)
    batch = batch_create(actor=user, study=study, **body.dict())
    return Status(
        201,
        {
            "product": batch.product,
            "number": batch.number,
            "expiry": batch.expiry,
            "released_on": batch.released_on,
        },
    )


@router.post(
    "/{identifier}/pharmacy/kits/import",
    response={201: PharmacyKitsAddedOut},
    summary="Import the manufacturer's kit list with its SHA-256 (all lines or none)",
)
def pharmacy_kits_import(
    request: HttpRequest, identifier: str, body: PharmacyKitsImportIn
) -> Status:
    user, study = _supplier(request, identifier)
    added = kits_import(
        actor=user,
        study=study,
        content=body.content.encode("utf-8"),
        checksum=body.sha256,
        file_name=body.file_name,
    )
    return Status(201, {"kits": added})


@router.post(
    "/{identifier}/pharmacy/kits/generate",
    response={201: PharmacyKitsAddedOut},
    summary="Generate kits of each arm in a batch, shuffled across the numbers",
)
def pharmacy_kits_generate(
    request: HttpRequest, identifier: str, body: PharmacyKitsGenerateIn
) -> Status:
    user, study = _supplier(request, identifier)
    listed = kits_generate(
        actor=user,
        study=study,
        batch=_batch(study, body.batch),
        per_content=body.per_content,
        pattern=body.pattern,
    )
    # The list with contents goes to the manufacturer from the server's command, not here.
    return Status(201, {"kits": len(listed)})


@router.post(
    "/{identifier}/pharmacy/kits/relabel",
    response=list[PharmacyKitOut],
    summary="Give kits (or a batch's kits) a new expiry after an extension, with the reason",
)
def pharmacy_kits_relabel(request: HttpRequest, identifier: str, body: PharmacyRelabelIn) -> Any:
    user = request_user(request)
    study = study_for_request(request, identifier)
    if not may(user, Action.DISPENSE, study=study):
        supply_require(user, study)
    kits = kits_relabel(
        actor=user,
        study=study,
        expiry=body.expiry,
        reason=body.reason,
        numbers=body.kits,
        batch=_batch(study, body.batch) if body.batch else None,
    )
    return [_kit(row) for row in inventory.kit_rows(kits, contents=contents_visible(user, study))]


@router.post(
    "/{identifier}/pharmacy/shipments",
    response={201: PharmacyShipmentOut},
    summary="Prepare a shipment of depot kits for a site",
)
def pharmacy_shipment_create(
    request: HttpRequest, identifier: str, body: PharmacyShipmentIn
) -> Status:
    user, study = _supplier(request, identifier)
    site = inventory.stock_site(user, study, body.site)
    shipment = shipment_create(
        actor=user, study=study, site=site, numbers=body.kits, today=site_today(site)
    )
    return Status(201, _shipment(shipment))


def _shipment_for(request: HttpRequest, identifier: str, number: str) -> tuple[User, Shipment]:
    user, study = _reader(request, identifier)
    return user, inventory.shipment_of(user, study, number)


@router.post(
    "/{identifier}/pharmacy/shipments/{shipment}/send",
    response=PharmacyShipmentOut,
    summary="Record that the shipment left the depot (its kits in transit)",
)
def pharmacy_shipment_send(request: HttpRequest, identifier: str, shipment: str) -> Any:
    user, found = _shipment_for(request, identifier, shipment)
    return _shipment(shipment_send(actor=user, shipment=found))


@router.post(
    "/{identifier}/pharmacy/shipments/{shipment}/receipt",
    response=PharmacyKitOut,
    summary="Receive one kit of the shipment (the site's pharmacist): scanned or typed",
)
def pharmacy_shipment_receive(
    request: HttpRequest, identifier: str, shipment: str, body: PharmacyReceiptIn
) -> Any:
    user, found = _shipment_for(request, identifier, shipment)
    kit = shipment_receive_kit(
        actor=user, shipment=found, number=body.kit, damaged=body.damaged, note=body.note
    )
    return _kit(inventory.kit_rows([kit], contents=contents_visible(user, found.study))[0])


@router.post(
    "/{identifier}/pharmacy/shipments/{shipment}/close",
    response=PharmacyShipmentOut,
    summary="Close the receipt with the temperature record; kits not received are missing",
)
def pharmacy_shipment_close(
    request: HttpRequest, identifier: str, shipment: str, body: PharmacyReceiptCloseIn
) -> Any:
    user, found = _shipment_for(request, identifier, shipment)
    return _shipment(shipment_receipt_close(actor=user, shipment=found, **body.dict()))


@router.post(
    "/{identifier}/pharmacy/excursions",
    response={201: PharmacyExcursionOut},
    summary="Report a temperature excursion at a site: its kits are quarantined",
)
def pharmacy_excursion_report(
    request: HttpRequest, identifier: str, body: PharmacyExcursionIn
) -> Status:
    user, study = _reader(request, identifier)
    site = inventory.stock_site(user, study, body.site)
    data = body.dict()
    data.pop("site")
    numbers = data.pop("kits")
    shipment = data.pop("shipment")
    excursion = excursion_report(
        actor=user,
        study=study,
        site=site,
        numbers=numbers,
        shipment=inventory.shipment_of(user, study, shipment) if shipment else None,
        **data,
    )
    return Status(201, _excursion(user, excursion))


@router.post(
    "/{identifier}/pharmacy/excursions/{excursion_id}/decision",
    response=PharmacyExcursionOut,
    summary="Decide on an excursion's kits: usable or destroyed, with a reason (the sponsor)",
)
def pharmacy_excursion_decide(
    request: HttpRequest, identifier: str, excursion_id: int, body: PharmacyDecisionIn
) -> Any:
    user, study = _supplier(request, identifier)
    excursion = inventory.excursion_of(user, study, excursion_id)
    decided = excursion_decide(
        actor=user,
        excursion=excursion,
        decision=body.decision,
        reason=body.reason,
        numbers=body.kits,
    )
    return _excursion(user, decided)
