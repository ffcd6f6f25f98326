"""Signed acts on a study's page: moving the study to another mode under an e-signature.

The page is the study's; the act is a person's signature (password, code, meaning), which
accounts holds, so its handler lives here.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from carnet.accounts.models import User
from carnet.accounts.permissions import PermissionDenied, may
from carnet.accounts.roles import Action
from carnet.accounts.selectors import study_for_actor
from carnet.accounts.signatures import MODE_CHANGE_MEANING, study_mode_change_signed
from carnet.core.errors import CarnetError
from carnet.studies.models import StudyMode


@login_required
@require_POST
def study_mode_page(request: HttpRequest, identifier: str) -> HttpResponse:
    """Move the study to another mode under the person's e-signature, with a reason."""
    user = request.user
    assert isinstance(user, User)
    try:
        study = study_for_actor(user, identifier)
    except PermissionDenied as error:
        raise Http404(str(error)) from error
    if not may(user, Action.MANAGE_STUDY, study=study):
        raise Http404("No such study.")
    try:
        study = study_mode_change_signed(
            actor=user,
            study=study,
            mode=request.POST.get("mode", ""),
            reason=request.POST.get("reason", ""),
            password=request.POST.get("password", ""),
            totp_code=request.POST.get("totp_code", ""),
            meaning=request.POST.get("meaning", "") or MODE_CHANGE_MEANING,
        )
        messages.success(
            request, _("The study is now in %(mode)s mode.") % {"mode": StudyMode(study.mode).label}
        )
    except CarnetError as error:
        messages.error(request, str(error))
    return HttpResponseRedirect(reverse("studies:study", args=[identifier]))
