"""API of the documents for the trial master file: the annotated CRF (JSON, HTML or PDF), a
subject's archival casebook PDF, and a site's archive of casebooks queued for the worker.

Taking a casebook out is an audit event, so it is asked for with POST. No logic here: the
services decide who may and what they see.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from ninja import Field, Query, Router, Schema
from ninja.errors import HttpError
from ninja.responses import Status

from carnet.accounts.api import request_user
from carnet.core.pdf import PdfUnavailable
from carnet.interop import documents_selectors as selectors
from carnet.interop.casebook_services import casebook_archive_request, casebook_export
from carnet.interop.crf_documents import Crf, crf_build, crf_html, crf_pdf
from carnet.interop.documents_models import CasebookArchive
from carnet.studies.api import study_for_request
from carnet.subjects.selectors import subject_for_actor

router = Router(tags=["documents"])


class CrfQuery(Schema):
    format: Literal["json", "html", "pdf"] = Field(
        "json", description="json (the annotations as data), html or pdf (the printable CRF)"
    )
    annotated: bool = Field(True, description="The annotated CRF (false: the blank one)")
    version: int | None = Field(None, description="A published study version (default: current)")
    language: Literal["en", "fr"] = "en"


class CrfItemOut(Schema):
    name: str
    sas_name: str = Field(description="Its name in the SAS XPT export ('' when never exported)")
    label: str
    type: str
    units: str
    code_list: str
    codes: list[tuple[str, str]] = Field(description="(code, label) of its code list")
    show_if: str
    calculation: str
    arm_revealing: bool
    identifying: bool
    checks: list[str] = Field(description="The checks reading it: 'name: expression'")


class CrfGroupOut(Schema):
    name: str
    repeating: bool
    dataset: str = Field(description="The export's dataset holding it")
    sas_member: str = Field(description="That dataset's XPT member name")
    items: list[CrfItemOut]


class CrfFormOut(Schema):
    name: str
    label: str
    events: list[str]
    groups: list[CrfGroupOut]


class CrfOut(Schema):
    study: str
    version: int
    forms: list[CrfFormOut]


class CasebookIn(Schema):
    language: str = Field("en", description="en or fr")


class ArchiveIn(Schema):
    site: str = Field(description="The site's code in the study, e.g. 01")
    language: str = Field("en", description="en or fr")


class ArchiveOut(Schema):
    id: int
    site: str
    status: str = Field(description="queued, running, done or failed")
    subjects_done: int
    subjects_total: int
    sha256: str
    created_at: datetime
    download: str = Field(description="The page address of the zip once done ('' before)")


def _crf_out(crf: Crf) -> CrfOut:
    return CrfOut(
        study=crf.study.identifier,
        version=crf.version,
        forms=[
            CrfFormOut(
                name=form.form.name,
                label=form.label,
                events=form.events,
                groups=[
                    CrfGroupOut(
                        name=group.group.name,
                        repeating=group.group.repeating,
                        dataset=group.dataset,
                        sas_member=group.sas_member,
                        items=[
                            CrfItemOut(
                                name=entry.item.name,
                                sas_name=entry.sas_name,
                                label=entry.label,
                                type=entry.type_text,
                                units=entry.item.units,
                                code_list=entry.item.code_list,
                                codes=entry.code_labels,
                                show_if=entry.item.show_if,
                                calculation=entry.item.calculation,
                                arm_revealing=entry.item.arm_revealing,
                                identifying=entry.item.identifying,
                                checks=[f"{c.name}: {c.expression}" for c in entry.checks],
                            )
                            for entry in group.items
                        ],
                    )
                    for group in form.groups
                ],
            )
            for form in crf.forms
        ],
    )


@router.get(
    "/{identifier}/crf",
    response=CrfOut,
    summary="The CRF of a study version: annotations as JSON, or the printable HTML or PDF",
    description="Every member of the study may read it. 400 for a version that is not "
    "published; 503 for a PDF where the server lacks Pango.",
)
def crf_get(request: HttpRequest, identifier: str, query: Query[CrfQuery]) -> HttpResponse | CrfOut:
    study = study_for_request(request, identifier)
    version = selectors.crf_version(study, query.version)
    crf = crf_build(
        study=study,
        version=version,
        annotated=query.annotated or query.format == "json",
        language=query.language,
    )
    if query.format == "json":
        return _crf_out(crf)
    if query.format == "html":
        return HttpResponse(crf_html(crf))
    try:
        pdf = crf_pdf(crf)
    except PdfUnavailable as missing:
        raise HttpError(503, str(missing)) from missing
    response = HttpResponse(pdf, content_type="application/pdf")
    kind = "annotated" if query.annotated else "blank"
    response["Content-Disposition"] = (
        f'attachment; filename="{study.identifier}-v{version.number}-crf-{kind}.pdf"'
    )
    return response


@router.post(
    "/{identifier}/subjects/{subject}/archival-casebook",
    summary="A subject's archival casebook PDF (forms, values, signatures, audit trail)",
    description="For whoever may see the subject; blinded readers get the blinded casebook. "
    "Recorded in the audit trail with the PDF's SHA-256 (also in X-Content-SHA256). 400 for a "
    "language other than en or fr; 503 where the server lacks Pango.",
)
def casebook_create(
    request: HttpRequest, identifier: str, subject: str, payload: CasebookIn
) -> HttpResponse:
    user = request_user(request)
    study = study_for_request(request, identifier)
    found = subject_for_actor(user, study=study, identifier=subject)
    try:
        made = casebook_export(actor=user, subject=found, language=payload.language)
    except PdfUnavailable as missing:
        raise HttpError(503, str(missing)) from missing
    response = HttpResponse(made.content, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{made.name}"'
    response["X-Content-SHA256"] = made.sha256
    return response


def _archive_out(study_identifier: str, run: CasebookArchive) -> ArchiveOut:
    return ArchiveOut(
        id=run.pk,
        site=run.site.code,
        status=run.status,
        subjects_done=run.subjects_done,
        subjects_total=run.subjects_total,
        sha256=run.sha256,
        created_at=run.created_at,
        download=reverse("interop:archive_download", args=[study_identifier, run.pk])
        if run.status == "done"
        else "",
    )


@router.post(
    "/{identifier}/casebook-archives",
    response={202: ArchiveOut},
    summary="Queue a site's archive of casebooks (a zip of PDFs with a manifest of hashes)",
    description="For whoever may see the site's subjects. The worker makes it; follow it with "
    "GET …/casebook-archives. 400 for an unknown site or language.",
)
def archive_create(request: HttpRequest, identifier: str, payload: ArchiveIn) -> Status[ArchiveOut]:
    user = request_user(request)
    study = study_for_request(request, identifier)
    site = selectors.study_site(study, payload.site)
    run = casebook_archive_request(actor=user, study=study, site=site, language=payload.language)
    return Status(202, _archive_out(study.identifier, run))


@router.get(
    "/{identifier}/casebook-archives",
    response=list[ArchiveOut],
    summary="The latest casebook archives of the sites one may archive",
)
def archive_list(request: HttpRequest, identifier: str) -> list[ArchiveOut]:
    user = request_user(request)
    study = study_for_request(request, identifier)
    return [
        _archive_out(study.identifier, run)
        for run in selectors.archive_runs_visible(user, study=study)
    ]
