"""The emergency unblinding page of one subject: reason, e-signature, second confirmation.

Only an investigator of the subject's site may unblind (the service decides); the arm shown
afterwards has been through the policy (`unblinding.allocation_arm`).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from carnet.accounts.permissions import PermissionDenied
from carnet.core.errors import CarnetError
from carnet.randomization import selectors, unblinding
from carnet.randomization.views import _subject, _user


@login_required
@require_http_methods(["GET", "POST"])
def unblinding_page(request: HttpRequest, identifier: str, subject: str) -> HttpResponse:
    """Show the emergency unblinding form; unblind on POST, then go back to the randomisation."""
    found = _subject(request, identifier, subject)
    user = _user(request)
    try:
        state = selectors.randomisation_state(user, found)
    except (PermissionDenied, selectors.RandomisationRefused) as refused:
        raise Http404(str(refused)) from refused
    message, status = "", 200
    if request.method == "POST":
        try:
            unblinding.emergency_unblind(
                actor=user,
                subject=found,
                reason=str(request.POST.get("reason", "")),
                password=str(request.POST.get("password", "")),
                totp_code=str(request.POST.get("totp_code", "")),
                confirmed=request.POST.get("confirmed") == "on",
            )
        except PermissionDenied as refused:
            message, status = str(refused), 403
        except CarnetError as refused:
            message, status = str(refused), 400
        else:
            messages.success(
                request, _("%(subject)s is unblinded.") % {"subject": found.identifier}
            )
            return HttpResponseRedirect(
                reverse("randomization:randomisation", args=[identifier, found.identifier])
            )
    return render(
        request,
        "randomization/unblinding.html",
        {"study": found.study, "subject": found, "state": state, "error": message},
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def pharmacovigilance_unblinding_page(
    request: HttpRequest, identifier: str, subject: str
) -> HttpResponse:
    """Reveal a subject's arm to pharmacovigilance for one case (case reference and reason);
    list the case's earlier requests. Anyone else is refused, the arm never shown to them."""
    found = _subject(request, identifier, subject)
    user = _user(request)
    try:
        state = selectors.randomisation_state(user, found)
    except (PermissionDenied, selectors.RandomisationRefused) as refused:
        raise Http404(str(refused)) from refused
    message, status, arm = "", 200, ""
    if not selectors.holds_pharmacovigilance(user, found.study):
        message, status = (
            _("Only the pharmacovigilance role may unblind a subject for a case."),
            403,
        )
    elif request.method == "POST":
        try:
            arm = unblinding.pharmacovigilance_unblind(
                actor=user,
                subject=found,
                reason=str(request.POST.get("reason", "")),
                case_reference=str(request.POST.get("case_reference", "")),
            )
        except PermissionDenied as refused:
            message, status = str(refused), 403
        except CarnetError as refused:
            message, status = str(refused), 400
    return render(
        request,
        "randomization/pharmacovigilance_unblinding.html",
        {
            "study": found.study,
            "subject": found,
            "state": selectors.randomisation_state(user, found) if arm else state,
            "cases": selectors.pharmacovigilance_cases(user, found),
            "error": message,
            "revealed": bool(arm),
            "may_request": status != 403 and state.allocated,
        },
        status=status,
    )
