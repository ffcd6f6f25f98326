"""The import page: upload CSV files of form data; the worker dry-runs or imports them (the bulk
path) while the page shows its progress, then what it found."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from carnet.accounts.models import User
from carnet.accounts.permissions import PermissionDenied, may
from carnet.accounts.roles import Action
from carnet.accounts.selectors import study_for_actor
from carnet.capture.bulk.engine import import_allowed
from carnet.capture.bulk.run_models import ImportRun
from carnet.capture.bulk.run_selectors import import_run_last, import_run_of
from carnet.capture.bulk.runs import FINISHED, import_run_progress, import_run_request
from carnet.capture.bulk.settings import import_settings_of, import_settings_set
from carnet.core.errors import CarnetError
from carnet.studies.models import Study


def _study(request: HttpRequest, identifier: str) -> tuple[User, Study]:
    """Return the person and the study when they may import into it; 404 otherwise, as for a
    study they may not see."""
    user = request.user
    assert isinstance(user, User)
    try:
        study = study_for_actor(user, identifier)
    except PermissionDenied as error:
        raise Http404(str(error)) from error
    if not import_allowed(user, study):
        raise Http404("No such page.")
    return user, study


def _progress_context(study: Study, run: ImportRun) -> dict[str, object]:
    done, total = import_run_progress(run)
    return {
        "study": study,
        "run": run,
        "finished": run.status in FINISHED,
        "done": done,
        "total": total,
        "percent": 100 * done // total if total else 0,
    }


@login_required
@require_http_methods(["GET", "POST"])
def import_page(request: HttpRequest, identifier: str) -> HttpResponse:
    """Show the upload form and the person's latest import; a POST queues a dry run or an
    import for the worker, or (``action=settings``, for those who manage the study) changes the
    import settings."""
    user, study = _study(request, identifier)
    refused_with = ""
    settings_changed = False
    if request.method == "POST" and request.POST.get("action") == "settings":
        try:
            import_settings_set(
                actor=user,
                study=study,
                creates_subjects=bool(request.POST.get("creates_subjects")),
                reason=request.POST.get("settings_reason", "")[:500],
            )
            settings_changed = True
        except (CarnetError, PermissionDenied) as refusal:
            refused_with = str(refusal)
    elif request.method == "POST":
        try:
            import_run_request(
                actor=user,
                study=study,
                files=[
                    (upload.name or "upload.csv", upload.open("rb"))
                    for upload in request.FILES.getlist("files")
                ],
                reason=request.POST.get("reason", "")[:500],
                dry_run=bool(request.POST.get("dry_run")),
            )
            return redirect("capture:import", identifier=study.identifier)
        except (CarnetError, PermissionDenied) as refusal:
            refused_with = str(refusal)
    last_run = import_run_last(actor=user, study=study)
    return render(
        request,
        "capture/bulk_import.html",
        {
            "study": study,
            "progress": _progress_context(study, last_run) if last_run else None,
            "error": refused_with,
            "reason": request.POST.get("reason", "")[:500],
            "settings": import_settings_of(study),
            "may_change_settings": may(user, Action.MANAGE_STUDY, study=study),
            "settings_changed": settings_changed,
        },
        status=400 if refused_with else 200,
    )


@login_required
@require_GET
def import_progress(request: HttpRequest, identifier: str, run_id: int) -> HttpResponse:
    """Return an import's progress bar, then what it found (the page asks again every second
    until it is finished)."""
    user, study = _study(request, identifier)
    run = import_run_of(actor=user, study=study, run_id=run_id)
    if run is None:
        raise Http404("No such import.")
    return render(request, "capture/_import_progress.html", _progress_context(study, run))
