"""API of the biobank's storage: freezers with their capacity, racks, boxes and their map, a
freezer's content (paged), scanning a label, putting away, moving, taking out, aliquoting and
deriving, and a freezer failure. No logic here: biobank.storage and biobank.aliquots decide."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema
from ninja.errors import HttpError
from ninja.responses import Status

from carnet.accounts.permissions import PermissionDenied, request_user
from carnet.accounts.selectors import study_for_request
from carnet.biobank import storage
from carnet.biobank.aliquots import sample_aliquot, sample_derive
from carnet.biobank.models import Sample

router = Router(tags=["biobank"])
BIOBANK = "/{identifier}/biobank"


class BiobankFreezerOut(Schema):
    id: int
    centre: str
    name: str
    temperature: int = Field(description="Set temperature, °C")
    status: str = Field(description="in_service or failed")
    racks: int
    boxes: int
    used: int = Field(description="Positions holding a sample")
    total: int = Field(description="Positions of all its boxes")


class BiobankBoxOut(Schema):
    id: int
    rack: str
    name: str
    rows: int
    columns: int
    used: int


class BiobankFreezerDetailOut(BiobankFreezerOut):
    box_list: list[BiobankBoxOut]


class BiobankFreezerIn(Schema):
    centre: str = Field(description="The centre's code")
    name: str
    temperature: int = Field(description="°C, e.g. -80")
    location: str = ""


class BiobankRackIn(Schema):
    name: str


class BiobankRackOut(Schema):
    id: int
    freezer: str
    name: str


class BiobankBoxIn(Schema):
    name: str
    rows: int = Field(description="Rows, lettered A…")
    columns: int = Field(description="Columns, numbered 1…")


class BiobankCellOut(Schema):
    position: str = Field(description="Row letter and column number, e.g. C4")
    occupied: bool
    sample: str = Field(description="The identifier; empty when free or not one you may see")


class BiobankBoxMapOut(Schema):
    box: BiobankBoxOut
    freezer: str
    cells: list[BiobankCellOut]


class BiobankStoredOut(Schema):
    sample: str
    sample_type: str
    rack: str
    box: str
    box_id: int
    position: str


class BiobankContentOut(Schema):
    count: int
    page: int
    pages: int
    samples: list[BiobankStoredOut]


class BiobankMovementOut(Schema):
    kind: str = Field(description="store, move, take_out or failure")
    from_place: str
    to_place: str
    reason: str
    moved_at: datetime
    moved_by: str


class BiobankScanOut(Schema):
    sample: str
    sample_type: str
    status: str
    volume: Decimal | None
    unit: str
    subject: str
    site: str
    parent: str
    children: list[str]
    place: str = Field(description="Freezer / rack / box / position; empty when not stored")
    movements: list[BiobankMovementOut]


class BiobankPlaceIn(Schema):
    box: int = Field(description="The box's id")
    position: str = Field("", description="e.g. C4; empty: the box's first free position")
    reason: str = ""


class BiobankTakeOutIn(Schema):
    reason: str


class BiobankAliquotIn(Schema):
    volumes: list[str] = Field(description="The volume of each tube, in the parent's unit")
    container: str = ""
    identifiers: list[str] | None = Field(
        None, description="Identifiers of pre-printed labels; default: the parent's + -A01…"
    )


class BiobankDeriveIn(Schema):
    sample_type: str = Field(description="dna, rna, ffpe_block, slide…")
    count: int = 1
    volume_used: str | None = Field(None, description="Taken from the parent, in its unit")
    quantity: str | None = Field(None, description="What each derivative holds")
    unit: str = ""
    container: str = ""
    identifiers: list[str] | None = None


class BiobankChildOut(Schema):
    sample: str
    sample_type: str
    volume: Decimal | None
    unit: str


class BiobankFailureIn(Schema):
    moved_to: str = Field(description="The name of the freezer that receives the samples")
    reason: str


class BiobankFailureOut(Schema):
    id: int
    freezer: str
    moved_to: str
    samples_moved: int
    recorded_at: datetime
    recorded_by: str


def _freezer_record(use: storage.FreezerUse) -> dict[str, Any]:
    freezer = use.freezer
    return {
        "id": freezer.pk,
        "centre": freezer.centre.code,
        "name": freezer.name,
        "temperature": freezer.temperature,
        "status": freezer.status,
        "racks": use.racks,
        "boxes": use.boxes,
        "used": use.used,
        "total": use.total,
    }


def _sample_record(scanned: storage.ScannedSample, actor: Any) -> dict[str, Any]:
    sample = scanned.sample
    return {
        "sample": sample.identifier,
        "sample_type": sample.sample_type,
        "status": sample.status,
        "volume": sample.volume,
        "unit": sample.unit,
        "subject": sample.subject.identifier,
        "site": sample.site.code,
        "parent": sample.parent.identifier if sample.parent else "",
        "children": list(
            sample.children.order_by("identifier").values_list("identifier", flat=True)
        ),
        "place": scanned.place,
        "movements": list(
            storage.sample_movements(actor, sample).values(
                "kind", "from_place", "to_place", "reason", "moved_at", "moved_by"
            )
        ),
    }


def _children(children: list[Sample]) -> list[dict[str, Any]]:
    return [
        {"sample": c.identifier, "sample_type": c.sample_type, "volume": c.volume, "unit": c.unit}
        for c in children
    ]


@router.get(
    BIOBANK + "/freezers",
    response=list[BiobankFreezerOut],
    summary="The freezers I may use for the study's samples, with their capacity",
)
def freezers_read(request: HttpRequest, identifier: str) -> list[Any]:
    study = study_for_request(request, identifier)
    return [
        _freezer_record(use) for use in storage.freezers_for_actor(request_user(request), study)
    ]


@router.post(
    BIOBANK + "/freezers",
    response={201: BiobankFreezerOut},
    summary="Add a freezer at a centre (biobank technicians; audited)",
)
def freezer_write(request: HttpRequest, identifier: str, body: BiobankFreezerIn) -> Status:
    actor = request_user(request)
    study = study_for_request(request, identifier)
    centre = storage.centres_of(actor, study).filter(code=body.centre).first()
    if centre is None:
        raise PermissionDenied(
            _("You may not add freezers at %(centre)s.") % {"centre": body.centre}
        )
    freezer = storage.freezer_create(
        actor=actor,
        study=study,
        centre=centre,
        name=body.name,
        temperature=body.temperature,
        location=body.location,
    )
    return Status(201, _freezer_record(storage.freezer_use(freezer)))


@router.get(
    BIOBANK + "/freezers/{freezer_id}",
    response=BiobankFreezerDetailOut,
    summary="A freezer: its capacity, racks and boxes",
)
def freezer_read(request: HttpRequest, identifier: str, freezer_id: int) -> Any:
    actor = request_user(request)
    study = study_for_request(request, identifier)
    freezer = storage.freezer_for_actor(actor, study, freezer_id)
    record = _freezer_record(storage.freezer_use(freezer))
    record["box_list"] = [
        {
            "id": box.pk,
            "rack": rack.name,
            "name": box.name,
            "rows": box.rows,
            "columns": box.columns,
            "used": used,
        }
        for rack, boxes in storage.freezer_boxes(freezer)
        for box, used in boxes
    ]
    return record


@router.get(
    BIOBANK + "/freezers/{freezer_id}/samples",
    response=BiobankContentOut,
    summary="The study's samples stored in a freezer, by rack, box and position (paged)",
)
def freezer_content_read(
    request: HttpRequest, identifier: str, freezer_id: int, page: int = 1, per_page: int = 100
) -> Any:
    actor = request_user(request)
    study = study_for_request(request, identifier)
    freezer = storage.freezer_for_actor(actor, study, freezer_id)
    content = storage.freezer_content(actor, study, freezer, page=page, per_page=per_page)
    return {
        "count": content.count,
        "page": content.page,
        "pages": content.pages,
        "samples": [
            {
                "sample": s.identifier,
                "sample_type": s.sample_type,
                "rack": s.rack,
                "box": s.box,
                "box_id": s.box_id,
                "position": s.position,
            }
            for s in content.samples
        ],
    }


@router.post(
    BIOBANK + "/freezers/{freezer_id}/racks",
    response={201: BiobankRackOut},
    summary="Add a rack to a freezer (audited)",
)
def rack_write(
    request: HttpRequest, identifier: str, freezer_id: int, body: BiobankRackIn
) -> Status:
    actor = request_user(request)
    study = study_for_request(request, identifier)
    freezer = storage.freezer_for_actor(actor, study, freezer_id)
    rack = storage.rack_create(actor=actor, study=study, freezer=freezer, name=body.name)
    return Status(201, {"id": rack.pk, "freezer": freezer.name, "name": rack.name})


@router.post(
    BIOBANK + "/racks/{rack_id}/boxes",
    response={201: BiobankBoxOut},
    summary="Add a box of rows × columns positions to a rack (audited)",
)
def box_write(request: HttpRequest, identifier: str, rack_id: int, body: BiobankBoxIn) -> Status:
    actor = request_user(request)
    study = study_for_request(request, identifier)
    rack = storage.rack_for_actor(actor, study, rack_id)
    box = storage.box_create(
        actor=actor, study=study, rack=rack, name=body.name, rows=body.rows, columns=body.columns
    )
    return Status(
        201,
        {
            "id": box.pk,
            "rack": rack.name,
            "name": box.name,
            "rows": box.rows,
            "columns": box.columns,
            "used": 0,
        },
    )


@router.get(
    BIOBANK + "/boxes/{box_id}",
    response=BiobankBoxMapOut,
    summary="A box's map: every position with the sample it holds",
)
def box_read(request: HttpRequest, identifier: str, box_id: int) -> Any:
    actor = request_user(request)
    study = study_for_request(request, identifier)
    box = storage.box_for_actor(actor, study, box_id)
    grid = storage.box_map(actor, study, box)
    return {
        "box": {
            "id": box.pk,
            "rack": box.rack.name,
            "name": box.name,
            "rows": box.rows,
            "columns": box.columns,
            "used": grid.used,
        },
        "freezer": box.rack.freezer.name,
        "cells": [
            {"position": cell.position, "occupied": cell.occupied, "sample": cell.identifier}
            for _row, cells in grid.rows
            for cell in cells
        ],
    }


@router.get(
    BIOBANK + "/scan",
    response=BiobankScanOut,
    summary="The sample a scanned or typed label names, with where it is and its moves",
)
def scan_read(request: HttpRequest, identifier: str, code: Query[str] = "") -> Any:
    actor = request_user(request)
    study = study_for_request(request, identifier)
    try:
        scanned = storage.sample_scan(actor, study, code)
    except storage.UnknownBarcode as error:
        raise HttpError(404, str(error)) from error
    return _sample_record(scanned, actor)


def _sample(request: HttpRequest, identifier: str, sample: str) -> tuple[Any, Sample]:
    actor = request_user(request)
    study = study_for_request(request, identifier)
    return actor, storage.sample_for_actor(actor, study, sample)


@router.post(
    BIOBANK + "/samples/{sample}/store",
    response={201: BiobankScanOut},
    summary="Put a sample away at a position of a box (audited)",
)
def store_write(request: HttpRequest, identifier: str, sample: str, body: BiobankPlaceIn) -> Status:
    actor, found = _sample(request, identifier, sample)
    box = storage.box_given(actor, found.study, body.box)
    storage.sample_store(actor=actor, sample=found, box=box, position=body.position or None)
    return Status(201, _sample_record(storage.sample_scan(actor, found.study, sample), actor))


@router.post(
    BIOBANK + "/samples/{sample}/move",
    response={201: BiobankScanOut},
    summary="Move a stored sample to another position (audited)",
)
def move_write(request: HttpRequest, identifier: str, sample: str, body: BiobankPlaceIn) -> Status:
    actor, found = _sample(request, identifier, sample)
    box = storage.box_given(actor, found.study, body.box)
    storage.sample_move(
        actor=actor, sample=found, box=box, position=body.position or None, reason=body.reason
    )
    return Status(201, _sample_record(storage.sample_scan(actor, found.study, sample), actor))


@router.post(
    BIOBANK + "/samples/{sample}/take-out",
    response={201: BiobankScanOut},
    summary="Take a sample out of its box, saying why (audited)",
)
def take_out_write(
    request: HttpRequest, identifier: str, sample: str, body: BiobankTakeOutIn
) -> Status:
    actor, found = _sample(request, identifier, sample)
    storage.sample_take_out(actor=actor, sample=found, reason=body.reason)
    return Status(201, _sample_record(storage.sample_scan(actor, found.study, sample), actor))


@router.post(
    BIOBANK + "/samples/{sample}/aliquot",
    response={201: list[BiobankChildOut]},
    summary="Divide a sample into tubes of given volumes, never more than it holds (audited)",
)
def aliquot_write(
    request: HttpRequest, identifier: str, sample: str, body: BiobankAliquotIn
) -> Status:
    actor, found = _sample(request, identifier, sample)
    children = sample_aliquot(
        actor=actor,
        sample=found,
        volumes=list(body.volumes),
        container=body.container,
        identifiers=body.identifiers,
    )
    return Status(201, _children(children))


@router.post(
    BIOBANK + "/samples/{sample}/derive",
    response={201: list[BiobankChildOut]},
    summary="Make derivatives of another type from a sample (DNA, blocks, slides; audited)",
)
def derive_write(
    request: HttpRequest, identifier: str, sample: str, body: BiobankDeriveIn
) -> Status:
    actor, found = _sample(request, identifier, sample)
    children = sample_derive(actor=actor, sample=found, **body.dict())
    return Status(201, _children(children))


@router.post(
    BIOBANK + "/freezers/{freezer_id}/failure",
    response={201: BiobankFailureOut},
    summary="Record a freezer's failure: all its samples move to another freezer (audited)",
)
def failure_write(
    request: HttpRequest, identifier: str, freezer_id: int, body: BiobankFailureIn
) -> Status:
    actor = request_user(request)
    study = study_for_request(request, identifier)
    freezer = storage.freezer_for_actor(actor, study, freezer_id)
    moved_to = storage.freezer_named(actor, study, body.moved_to)
    failure = storage.freezer_failure_record(
        actor=actor, study=study, freezer=freezer, moved_to=moved_to, reason=body.reason
    )
    return Status(
        201,
        {
            "id": failure.pk,
            "freezer": freezer.name,
            "moved_to": moved_to.name,
            "samples_moved": failure.samples_moved,
            "recorded_at": failure.recorded_at,
            "recorded_by": failure.recorded_by,
        },
    )
