"""The exports page of a study: its cut-offs, naming a new one, and making an export.

The export is made while the page waits (synchronously) and answered as the zip; the same
service writes what the command and the API write.
"""

from __future__ import annotations

import io
from datetime import date

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from carnet.accounts.blinding import blinding_of
from carnet.accounts.models import User
from carnet.accounts.permissions import PermissionDenied
from carnet.accounts.selectors import study_for_actor
from carnet.core.errors import CarnetError
from carnet.interop import selectors, services
from carnet.interop.exports import export_write
from carnet.interop.writers import FORMATS
from carnet.studies.models import Study


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


def _export(request: HttpRequest, study: Study) -> HttpResponse:
    user = _user(request)
    cutoff = selectors.cutoff_named(user, study=study, name=str(request.POST.get("cutoff", "")))
    file_format = str(request.POST.get("format", "csv"))
    target = io.BytesIO()
    export_write(
        actor=user,
        study=study,
        cutoff=cutoff,
        file_format=file_format,
        target=target,
        unblinded=request.POST.get("unblinded") == "on",
    )
    response = HttpResponse(target.getvalue(), content_type="application/zip")
    name = f"{study.identifier}-{cutoff.name}-{file_format}.zip"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


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
                return _export(request, study)
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
    try:
        cutoffs = list(selectors.cutoffs_of(user, study=study))
    except PermissionDenied as refused:
        cutoffs, message, status = [], str(refused), 403
    return render(
        request,
        "interop/exports.html",
        {
            "study": study,
            "cutoffs": cutoffs,
            "formats": FORMATS,
            "unblinded": blinding_of(user, study=study).unblinded,
            "error": message,
            "refused": status == 403,
        },
        status=status,
    )
