"""The import page: upload CSV files of form data, dry-run or import them (the bulk path)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from carnet.accounts.models import User
from carnet.accounts.permissions import PermissionDenied, may
from carnet.accounts.roles import Action
from carnet.accounts.selectors import study_for_actor
from carnet.capture.bulk.csv_files import files_import
from carnet.capture.bulk.engine import ImportOutcome, ImportRefused, Problem, import_allowed
from carnet.capture.bulk.settings import import_settings_of, import_settings_set
from carnet.core.errors import CarnetError


@login_required
@require_http_methods(["GET", "POST"])
def import_page(request: HttpRequest, identifier: str) -> HttpResponse:
    """Show the upload form; a POST dry-runs or imports the files and shows what it found, or
    (``action=settings``, for those who manage the study) changes the import settings."""
    user = request.user
    assert isinstance(user, User)
    try:
        study = study_for_actor(user, identifier)
    except PermissionDenied as error:
        raise Http404(str(error)) from error
    if not import_allowed(user, study):
        raise Http404("No such page.")
    outcome: ImportOutcome | None = None
    problems: list[Problem] = []
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
    elif request.method == "POST" and not request.FILES.getlist("files"):
        refused_with = _("Choose at least one CSV file to import.")
    elif request.method == "POST":
        try:
            outcome = files_import(
                actor=user,
                study=study,
                files=[
                    (upload.name or "upload.csv", upload.open("rb"))
                    for upload in request.FILES.getlist("files")
                ],
                reason=request.POST.get("reason", "")[:500],
                dry_run=bool(request.POST.get("dry_run")),
            )
            problems = outcome.problems
        except ImportRefused as refused:
            problems = refused.problems
        except CarnetError as refusal:
            refused_with = str(refusal)
    return render(
        request,
        "capture/bulk_import.html",
        {
            "study": study,
            "outcome": outcome,
            "problems": problems,
            "error": refused_with,
            "reason": request.POST.get("reason", "")[:500],
            "settings": import_settings_of(study),
            "may_change_settings": may(user, Action.MANAGE_STUDY, study=study),
            "settings_changed": settings_changed,
        },
        status=400 if (problems and not (outcome and outcome.dry_run)) or refused_with else 200,
    )
