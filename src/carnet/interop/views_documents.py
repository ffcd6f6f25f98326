"""Pages of the documents for the trial master file: the CRF (blank or annotated, HTML or PDF),
a subject's archival casebook PDF, and a site's archive of casebooks made by the worker.

Where the server cannot make PDFs (no Pango), a PDF address answers 503 with the page saying
what to install; the HTML versions still work.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from carnet.accounts.models import StudySite, User
from carnet.accounts.permissions import PermissionDenied, may
from carnet.accounts.roles import Action
from carnet.accounts.selectors import study_for_actor
from carnet.core.errors import CarnetError
from carnet.core.pdf import PANGO_PACKAGES, PdfUnavailable
from carnet.interop import documents_selectors as selectors
from carnet.interop.casebook_services import (
    casebook_archive_download,
    casebook_archive_request,
    casebook_export,
)
from carnet.interop.crf_documents import crf_build, crf_html, crf_pdf
from carnet.interop.documents_models import ArchiveStatus
from carnet.studies.models import Study
from carnet.subjects.models import Subject
from carnet.subjects.selectors import subject_for_actor

FINISHED = (ArchiveStatus.DONE, ArchiveStatus.FAILED)
KINDS = ("blank", "annotated")


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _study(request: HttpRequest, identifier: str) -> Study:
    try:
        return study_for_actor(_user(request), identifier)
    except PermissionDenied as error:
        raise Http404(str(error)) from error


def _language() -> str:
    return "fr" if (translation.get_language() or "en").startswith("fr") else "en"


def _no_pdf(request: HttpRequest, study: Study, missing: PdfUnavailable) -> HttpResponse:
    return render(
        request,
        "interop/documents/documents.html",
        {
            **_context(request, study),
            "pdf_error": _(
                "This server cannot make PDFs: WeasyPrint could not load the system's Pango "
                "library (%(cause)s). Ask your administrator to install %(packages)s; the HTML "
                "versions hold the same."
            )
            % {"cause": missing.cause, "packages": PANGO_PACKAGES},
        },
        status=503,
    )


def _archive_sites(user: User, study: Study) -> list[StudySite]:
    return [
        site
        for site in study.sites.select_related("centre").order_by("code")
        if may(user, Action.VIEW_SUBJECTS, study=study, site=site)
    ]


def _context(request: HttpRequest, study: Study) -> dict[str, object]:
    user = _user(request)
    sites = []
    for site in _archive_sites(user, study):
        runs = selectors.archive_runs(user, study=study, site=site, limit=1)
        last = runs[0] if runs else None
        sites.append(
            {"site": site, "run": last, "finished": last is not None and last.status in FINISHED}
        )
    return {"study": study, "kinds": KINDS, "sites": sites}


@login_required
@require_GET
def documents_page(request: HttpRequest, identifier: str) -> HttpResponse:
    """Show the study's documents for the trial master file: the CRFs and the site archives."""
    study = _study(request, identifier)
    return render(request, "interop/documents/documents.html", _context(request, study))


@login_required
@require_GET
def crf_document(
    request: HttpRequest, identifier: str, kind: str, file_format: str
) -> HttpResponse:
    """Return the blank or annotated CRF of the current version as HTML or PDF."""
    study = _study(request, identifier)
    if kind not in KINDS or file_format not in {"html", "pdf"}:
        raise Http404("No such document.")
    try:
        version = selectors.crf_version(study)
    except CarnetError as error:
        raise Http404(str(error)) from error
    crf = crf_build(
        study=study, version=version, annotated=kind == "annotated", language=_language()
    )
    if file_format == "html":
        return HttpResponse(crf_html(crf))
    try:
        pdf = crf_pdf(crf)
    except PdfUnavailable as missing:
        return _no_pdf(request, study, missing)
    response = HttpResponse(pdf, content_type="application/pdf")
    name = f"{study.identifier}-v{version.number}-crf-{kind}.pdf"
    response["Content-Disposition"] = f'inline; filename="{name}"'
    return response


def _subject(request: HttpRequest, study: Study, identifier: str) -> Subject:
    try:
        return subject_for_actor(_user(request), study=study, identifier=identifier)
    except PermissionDenied as error:
        raise Http404(str(error)) from error


@login_required
@require_GET
def casebook_pdf_download(request: HttpRequest, identifier: str, subject: str) -> HttpResponse:
    """Return the subject's archival casebook PDF (recorded in the audit trail)."""
    study = _study(request, identifier)
    found = _subject(request, study, subject)
    try:
        made = casebook_export(actor=_user(request), subject=found, language=_language())
    except PdfUnavailable as missing:
        return _no_pdf(request, study, missing)
    except PermissionDenied as error:
        raise Http404(str(error)) from error
    response = HttpResponse(made.content, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{made.name}"'
    response["X-Content-SHA256"] = made.sha256
    return response


def _site(request: HttpRequest, study: Study, code: str) -> StudySite:
    try:
        return selectors.study_site(study, code)
    except CarnetError as error:
        raise Http404(str(error)) from error


@login_required
@require_POST
def archive_request(request: HttpRequest, identifier: str, site: str) -> HttpResponse:
    """Queue the site's casebook archive for the worker, then show its progress."""
    study = _study(request, identifier)
    found = _site(request, study, site)
    try:
        casebook_archive_request(
            actor=_user(request), study=study, site=found, language=_language()
        )
    except PermissionDenied as error:
        raise Http404(str(error)) from error
    return redirect("interop:documents", identifier=study.identifier)


@login_required
@require_GET
def archive_progress(request: HttpRequest, identifier: str, run_id: int) -> HttpResponse:
    """Return an archive's progress bar (the page asks again every second until it is done)."""
    study = _study(request, identifier)
    try:
        run = selectors.archive_run(_user(request), study=study, run_id=run_id)
    except PermissionDenied as error:
        raise Http404(str(error)) from error
    if run is None:
        raise Http404
    return render(
        request,
        "interop/documents/_archive_progress.html",
        {"study": study, "run": run, "finished": run.status in FINISHED},
    )


@login_required
@require_http_methods(["GET"])
def archive_download(request: HttpRequest, identifier: str, run_id: int) -> FileResponse:
    """Return a done site archive (a zip), recording that it left Carnet."""
    study = _study(request, identifier)
    try:
        run = selectors.archive_run(_user(request), study=study, run_id=run_id)
        if run is None:
            raise Http404
        path = casebook_archive_download(actor=_user(request), run=run)
    except PermissionDenied as error:
        raise Http404(str(error)) from error
    except CarnetError as error:
        raise Http404(str(error)) from error
    return FileResponse(path.open("rb"), as_attachment=True, filename=path.name)
