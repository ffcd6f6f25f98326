"""The exports page of a study: its cut-offs, naming a new one, and making an export.

An export is queued for the worker; the page shows its progress line (asked again every second
until it is done) and then its download link. The same service writes what the command and the
API write.
"""

from __future__ import annotations

from datetime import date

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from carnet.accounts.blinding import blinding_of
from carnet.accounts.models import User
from carnet.accounts.permissions import PermissionDenied
from carnet.accounts.selectors import study_for_actor, study_sites
from carnet.core.errors import CarnetError
from carnet.interop import selectors, services
from carnet.interop.models import ExportRun, ExportStatus
from carnet.interop.runs import RUN_FORMATS, ExportOptions, export_file, export_request
from carnet.studies.models import Study

FINISHED = (ExportStatus.DONE, ExportStatus.FAILED)


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _study(request: HttpRequest, identifier: str) -> Study:
    try:
        return study_for_actor(_user(request), identifier)
    except PermissionDenied as error:
        raise Http404(str(error)) from error


def _cut_on(text: str) -> date | None:
    if not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise CarnetError(
            _("date: %(value)r is not a date (YYYY-MM-DD).") % {"value": text}
        ) from None


def _create(request: HttpRequest, study: Study) -> None:
    services.cutoff_create(
        actor=_user(request),
        study=study,
        name=str(request.POST.get("name", "")),
        reason=str(request.POST.get("reason", "")),
        cut_on=_cut_on(str(request.POST.get("cut_on", ""))),
    )


def _day(text: str) -> date | None:
    return _cut_on(text)


def _export(request: HttpRequest, study: Study) -> ExportRun:
    """Queue the export the form asks for (the worker makes it; the page shows its progress)."""
    user = _user(request)
    cutoff = selectors.cutoff_named(user, study=study, name=str(request.POST.get("cutoff", "")))
    listed = {
        key: [value for value in request.POST.getlist(key) if value]
        for key in ("forms", "sites", "events")
    }
    options = ExportOptions(
        file_format=str(request.POST.get("format", "csv")),
        unblinded=request.POST.get("unblinded") == "on",
        forms=listed["forms"],
        sites=listed["sites"],
        events=listed["events"],
        since=_day(str(request.POST.get("since", ""))),
        until=_day(str(request.POST.get("until", ""))),
        labels=request.POST.get("values") == "labels",
    )
    return export_request(actor=user, study=study, cutoff=cutoff, options=options)


def _choices(study: Study) -> dict[str, list[str]]:
    """Return the forms, events and sites an export may be kept to (the current version's)."""
    version = study.current_version
    definition = version.parsed() if version is not None else None
    return {
        "forms": [form.name for form in definition.forms] if definition else [],
        "events": [event.name for event in definition.events] if definition else [],
        "sites": [site.code for site in study_sites(study)],
    }


@login_required
@require_http_methods(["GET", "POST"])
def exports_page(request: HttpRequest, identifier: str) -> HttpResponse:
    """Show the study's cut-offs; name one or export from one on POST."""
    study = _study(request, identifier)
    user = _user(request)
    message, status = "", 200
    if request.method == "POST":
        try:
            if request.POST.get("action") == "export":
                _export(request, study)
                messages.success(
                    request, _("Export queued: the worker makes it, its progress is shown below.")
                )
                return HttpResponseRedirect(reverse("interop:exports", args=[study.identifier]))
            _create(request, study)
        except PermissionDenied as refused:
            message, status = str(refused), 403
        except CarnetError as refused:
            message, status = str(refused), 400
        else:
            messages.success(
                request, _("Cut-off %(name)s named.") % {"name": request.POST.get("name", "")}
            )
            return HttpResponseRedirect(reverse("interop:exports", args=[study.identifier]))
    runs: list[ExportRun] = []
    try:
        cutoffs = list(selectors.cutoffs_of(user, study=study))
        runs = selectors.export_runs(user, study=study)
    except PermissionDenied as refused:
        cutoffs, message, status = [], str(refused), 403
    return render(
        request,
        "interop/exports.html",
        {
            "study": study,
            "cutoffs": cutoffs,
            "runs": runs,
            "choices": _choices(study),
            "finished": FINISHED,
            "formats": RUN_FORMATS,
            "unblinded": blinding_of(user, study=study).unblinded,
            "error": message,
            "refused": status == 403,
        },
        status=status,
    )


def _run(request: HttpRequest, identifier: str, run_id: int) -> tuple[Study, ExportRun]:
    study = _study(request, identifier)
    try:
        return study, selectors.export_run_of(_user(request), study=study, run_id=run_id)
    except PermissionDenied as error:
        raise Http404(str(error)) from error


@login_required
@require_GET
def export_progress(request: HttpRequest, identifier: str, run_id: int) -> HttpResponse:
    """Return an export's progress line (the page asks again every second until it is done)."""
    study, run = _run(request, identifier, run_id)
    return render(
        request,
        "interop/_export_progress.html",
        {"study": study, "run": run, "finished": run.status in FINISHED},
    )


@login_required
@require_GET
def export_download(request: HttpRequest, identifier: str, run_id: int) -> FileResponse:
    """Answer the zip of a finished export, to the person who asked for it."""
    run = _run(request, identifier, run_id)[1]
    path = export_file(run)
    if run.status != ExportStatus.DONE or not path.exists():
        raise Http404(_("This export is not ready."))
    response = FileResponse(
        path.open("rb"), as_attachment=True, filename=run.file_name, content_type="application/zip"
    )
    response["X-Manifest-SHA256"] = run.manifest_sha256
    return response
