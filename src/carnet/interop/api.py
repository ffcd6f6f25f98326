"""API of the interop app: a study's cut-offs, and exports made from one.

No logic here: the services decide who may, the selectors what they see. An export answers the
zip itself (synchronously for now; the page and the command make the same file).
"""

from __future__ import annotations

import io
from datetime import date, datetime

from django.http import HttpRequest, HttpResponse
from ninja import Field, Router, Schema
from ninja.responses import Status

from carnet.accounts.api import request_user
from carnet.interop import selectors, services
from carnet.interop.exports import export_write
from carnet.interop.models import Cutoff
from carnet.studies.api import study_for_request

router = Router(tags=["interop"])

CUTOFFS = "/{identifier}/cutoffs"


class CutoffIn(Schema):
    name: str = Field(description="e.g. DSMB-1: letters, digits, '.', '_', '-' (at most 64)")
    reason: str = Field(description="Why the data are cut off (the analysis it is for)")
    cut_on: date | None = Field(None, description="The protocol's cut-off date (default today)")


class CutoffOut(Schema):
    name: str
    seq: int = Field(description="The last audit event of the study's chain it keeps")
    head_hash: str = Field(description="That event's hash (the chain head at the cut-off)")
    cut_on: date
    reason: str
    created_by: str
    created_at: datetime


class ExportIn(Schema):
    cutoff: str = Field(description="The name of the cut-off the export is made from")
    format: str = Field(
        "csv",
        description="csv (with SAS and R programs), parquet, xpt (SAS v5), dta (Stata), sav (SPSS)",
    )
    unblinded: bool = Field(False, description="The arm and arm-revealing items (unblinded roles)")
    forms: list[str] | None = Field(None, description="Only these forms (default: every form)")
    sites: list[str] | None = Field(None, description="Only these site codes (default: all yours)")


def _out(cutoff: Cutoff) -> CutoffOut:
    return CutoffOut(
        name=cutoff.name,
        seq=cutoff.seq,
        head_hash=cutoff.head_hash,
        cut_on=cutoff.cut_on,
        reason=cutoff.reason,
        created_by=cutoff.created_by,
        created_at=cutoff.created_at,
    )


@router.get(CUTOFFS, response=list[CutoffOut], summary="A study's data cut-offs")
def cutoff_list(request: HttpRequest, identifier: str) -> list[CutoffOut]:
    user = request_user(request)
    study = study_for_request(request, identifier)
    return [_out(cutoff) for cutoff in selectors.cutoffs_of(user, study=study)]


@router.post(
    CUTOFFS,
    response={201: CutoffOut},
    summary="Name a data cut-off (the study's audit chain as it stands now)",
    description="400 for a name already taken or not a name, or without a reason; 403 for "
    "someone who may not export the study's data.",
)
def cutoff_create(request: HttpRequest, identifier: str, payload: CutoffIn) -> Status[CutoffOut]:
    user = request_user(request)
    study = study_for_request(request, identifier)
    cutoff = services.cutoff_create(
        actor=user, study=study, name=payload.name, reason=payload.reason, cut_on=payload.cut_on
    )
    return Status(201, _out(cutoff))


@router.post(
    "/{identifier}/exports",
    summary="Export the study's datasets at a cut-off (a zip)",
    description="The zip holds one dataset per form and repeating group, the subjects, the SAS "
    "and R programs (CSV) and a manifest of SHA-256 hashes. The same cut-off always gives the "
    "same bytes. 400 for an unknown cut-off or format; 403 for someone who may not export, or a "
    "blinded person asking for an unblinded export.",
)
def export_create(request: HttpRequest, identifier: str, payload: ExportIn) -> HttpResponse:
    user = request_user(request)
    study = study_for_request(request, identifier)
    cutoff = selectors.cutoff_named(user, study=study, name=payload.cutoff)
    target = io.BytesIO()
    made = export_write(
        actor=user,
        study=study,
        cutoff=cutoff,
        file_format=payload.format,
        target=target,
        unblinded=payload.unblinded,
        forms=payload.forms,
        sites=payload.sites,
    )
    response = HttpResponse(target.getvalue(), content_type="application/zip")
    name = f"{study.identifier}-{cutoff.name}-{payload.format}.zip"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["X-Manifest-SHA256"] = made.manifest_sha256
    return response
