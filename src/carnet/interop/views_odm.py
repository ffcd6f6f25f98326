"""The ODM import page of a study: an ODM 1.3.2 file's clinical data into the study (the bulk
path: dry run, all or nothing, problems by line), and an ODM file's metadata as a study
definition (YAML, with what could not be carried over; nothing loaded).

The services are those of the command and the API (`odm_file_import`, `odm_study_definition`).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.files.uploadedfile import UploadedFile
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from carnet.accounts.models import User
from carnet.accounts.permissions import PermissionDenied
from carnet.accounts.selectors import study_for_actor
from carnet.capture.bulk.engine import ImportRefused, import_allowed
from carnet.core.errors import CarnetError
from carnet.interop.odm.data_import import odm_file_import
from carnet.interop.odm.reading import odm_limit_bytes
from carnet.interop.odm.study_import import definition_allowed, odm_study_definition


def _read(upload: UploadedFile) -> bytes:
    upload.seek(0)
    return upload.read(odm_limit_bytes() + 1)  # one byte over: the reader refuses it


@login_required
@require_http_methods(["GET", "POST"])
def odm_import_page(request: HttpRequest, identifier: str) -> HttpResponse:
    """Show the two forms; a POST dry-runs or imports the data, or turns the metadata into YAML."""
    user = request.user
    assert isinstance(user, User)
    try:
        study = study_for_actor(user, identifier)
    except PermissionDenied as error:
        raise Http404(str(error)) from error
    imports = import_allowed(user, study)
    defines = definition_allowed(user)
    if not imports and not defines:
        raise Http404("No such page.")
    context: dict[str, Any] = {
        "study": study,
        "imports": imports,
        "defines": defines,
        "reason": request.POST.get("reason", "")[:500],
        "identifier": request.POST.get("identifier", "")[:40],
    }
    refused = False
    if request.method == "POST":
        action = request.POST.get("action", "")
        upload = request.FILES.get("file")
        allowed = imports if action == "data" else defines if action == "definition" else False
        if not allowed:
            raise Http404("No such page.")
        if upload is None:
            context["error"] = _("Choose an ODM file.")
            refused = True
        else:
            refused = _post(request, action, upload, context)
    return render(request, "interop/odm_import.html", context, status=400 if refused else 200)


def _post(request: HttpRequest, action: str, upload: UploadedFile, context: dict[str, Any]) -> bool:
    """Do what the form asks; put the outcome in the context; return whether it was refused."""
    user = request.user
    assert isinstance(user, User)
    name = upload.name or "upload.xml"
    try:
        if action == "definition":
            read = odm_study_definition(
                _read(upload), name=name, identifier=context["identifier"].strip()
            )
            context["definition"] = read.yaml()
            context["not_carried"] = read.not_carried
            return False
        made = odm_file_import(
            actor=user,
            study=context["study"],
            data=_read(upload),
            reason=context["reason"],
            name=name,
            dry_run=bool(request.POST.get("dry_run")),
        )
    except ImportRefused as refusal:
        context["problems"] = refusal.problems
        return True
    except CarnetError as refusal:
        context["error"] = str(refusal)
        return True
    context["made"] = made
    context["problems"] = made.outcome.problems
    return bool(made.outcome.problems) and not made.outcome.dry_run
