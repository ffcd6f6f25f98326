"""API of the interop app: a study's cut-offs, and exports made from one.

No logic here: the services decide who may, the selectors what they see. An export is a
background task: the API starts it, answers its id, and serves the zip once the worker is done
(the page and the command make the same file).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from django.http import FileResponse, HttpRequest
from django.http.response import HttpResponseBase
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema
from ninja.errors import HttpError
from ninja.responses import Status

from carnet.accounts.api import request_user
from carnet.interop import selectors, services
from carnet.interop.models import Cutoff, ExportRun, ExportStatus
from carnet.interop.runs import ExportOptions, export_file, export_request
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
        description="csv (with SAS and R programs), parquet, xpt (SAS v5), dta (Stata), "
        "sav (SPSS), warehouse (Parquet partitioned study=/site=/form=), odm (CDISC ODM 1.3.2 "
        "snapshot, zipped), odm-transactional (every change with its AuditRecord)",
    )
    unblinded: bool = Field(False, description="The arm and arm-revealing items (unblinded roles)")
    forms: list[str] | None = Field(None, description="Only these forms (default: every form)")
    sites: list[str] | None = Field(None, description="Only these site codes (default: all yours)")
    events: list[str] | None = Field(None, description="Only rows of these events (default: all)")
    since: date | None = Field(None, description="Only rows with a visit on or after this date")
    until: date | None = Field(None, description="Only rows with a visit on or before this date")
    values: Literal["codes", "labels"] = Field(
        "codes", description="codes (with value labels) or labels written instead of codes"
    )


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


class ExportRunOut(Schema):
    id: int = Field(description="Poll GET .../exports/{id}; download .../exports/{id}/download")
    cutoff: str
    status: str = Field(description="queued, running, done or failed")
    done: int = Field(description="Datasets written so far")
    total: int = Field(description="Datasets in all")
    percent: int
    options: dict[str, Any]
    manifest_sha256: str = Field(description="The manifest's SHA-256 once done (as audited)")
    size: int = Field(description="Bytes of the zip once done")
    error: str
    created_at: datetime
    finished_at: datetime | None


def _run_out(run: ExportRun) -> ExportRunOut:
    return ExportRunOut(
        id=run.pk,
        cutoff=run.cutoff.name,
        status=run.status,
        done=run.done,
        total=run.total,
        percent=run.percent,
        options=run.options,
        manifest_sha256=run.manifest_sha256,
        size=run.size,
        error=run.error,
        created_at=run.created_at,
        finished_at=run.finished_at,
    )


@router.post(
    "/{identifier}/exports",
    response={202: ExportRunOut},
    summary="Start an export of the study's datasets at a cut-off (a background task)",
    description="The worker makes the zip: one dataset per form and repeating group, the "
    "subjects, the SAS and R programs (CSV) and a manifest of SHA-256 hashes. The answer is the "
    "task's run: poll GET /exports/{id} until it is done, then GET /exports/{id}/download. The "
    "same cut-off always gives the same bytes. 400 for an unknown cut-off, format, form or "
    "event; 403 for someone who may not export, or a blinded person asking for an unblinded "
    "export.",
)
def export_create(request: HttpRequest, identifier: str, payload: ExportIn) -> Status[ExportRunOut]:
    user = request_user(request)
    study = study_for_request(request, identifier)
    cutoff = selectors.cutoff_named(user, study=study, name=payload.cutoff)
    options = ExportOptions(
        file_format=payload.format,
        unblinded=payload.unblinded,
        forms=payload.forms or [],
        sites=payload.sites or [],
        events=payload.events or [],
        since=payload.since,
        until=payload.until,
        labels=payload.values == "labels",
    )
    run = export_request(actor=user, study=study, cutoff=cutoff, options=options)
    return Status(202, _run_out(run))


@router.get(
    "/{identifier}/exports", response=list[ExportRunOut], summary="Your exports of the study"
)
def export_list(request: HttpRequest, identifier: str) -> list[ExportRunOut]:
    user = request_user(request)
    study = study_for_request(request, identifier)
    return [_run_out(run) for run in selectors.export_runs(user, study=study)]


@router.get(
    "/{identifier}/exports/{run_id}",
    response=ExportRunOut,
    summary="How far one of your exports is",
    description="403 for an export someone else asked for (it carries their blinding).",
)
def export_status(request: HttpRequest, identifier: str, run_id: int) -> ExportRunOut:
    user = request_user(request)
    study = study_for_request(request, identifier)
    return _run_out(selectors.export_run_of(user, study=study, run_id=run_id))


@router.get(
    "/{identifier}/exports/{run_id}/download",
    summary="The zip of one of your finished exports",
    description="409 while the export is not done; 403 for an export someone else asked for.",
)
def export_download(request: HttpRequest, identifier: str, run_id: int) -> HttpResponseBase:
    user = request_user(request)
    study = study_for_request(request, identifier)
    run = selectors.export_run_of(user, study=study, run_id=run_id)
    path = export_file(run)
    if run.status != ExportStatus.DONE or not path.exists():
        raise HttpError(
            409,
            _("Export %(number)s is %(status)s: download it once it is done.")
            % {"number": run.pk, "status": run.status},
        )
    response = FileResponse(
        path.open("rb"), as_attachment=True, filename=run.file_name, content_type="application/zip"
    )
    response["X-Manifest-SHA256"] = run.manifest_sha256
    return response
