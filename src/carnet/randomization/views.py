"""The randomisation step of a subject: the factor levels to confirm, then the result.

The arm shown has been through the blinding policy; a blinded person sees the allocation number
and date, never the arm, in the page and in its refusals.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from carnet.accounts.models import User
from carnet.accounts.permissions import PermissionDenied
from carnet.accounts.selectors import study_for_actor
from carnet.core.errors import CarnetError
from carnet.randomization import selectors, services
from carnet.subjects.models import Subject
from carnet.subjects.selectors import subject_for_actor

FACTOR_PREFIX = "factor-"


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _subject(request: HttpRequest, identifier: str, subject: str) -> Subject:
    try:
        study = study_for_actor(_user(request), identifier)
        return subject_for_actor(_user(request), study=study, identifier=subject)
    except PermissionDenied as error:
        raise Http404(str(error)) from error


def factor_label(name: str) -> str:
    """Return a factor's name as a page shows it (the site, or the item's variable name)."""
    return _("site") if name == "site" else name


@login_required
@require_http_methods(["GET", "POST"])
def randomisation_page(request: HttpRequest, identifier: str, subject: str) -> HttpResponse:
    """Show the subject's factor levels for confirmation, randomise on POST, then the result."""
    found = _subject(request, identifier, subject)
    user = _user(request)
    try:
        state = selectors.randomisation_state(user, found)
    except PermissionDenied as denied:
        raise Http404(str(denied)) from denied
    except selectors.RandomisationRefused as refused:
        raise Http404(str(refused)) from refused
    message = ""
    status = 200
    if request.method == "POST":
        confirmed = {
            key[len(FACTOR_PREFIX) :]: str(request.POST[key])
            for key in request.POST
            if key.startswith(FACTOR_PREFIX)
        }
        try:
            services.subject_randomise(actor=user, subject=found, confirm_factors=confirmed)
        except PermissionDenied as refused:
            message, status = str(refused), 403
        except CarnetError as refused:
            message, status = str(refused), 400
        else:
            messages.success(request, _("%(subject)s is randomised.") % {"subject": found})
            return HttpResponseRedirect(
                reverse("randomization:randomisation", args=[identifier, found.identifier])
            )
        state = selectors.randomisation_state(user, found)
    return render(
        request,
        "randomization/randomisation.html",
        {
            "study": found.study,
            "subject": found,
            "state": state,
            "factors": [
                (FACTOR_PREFIX + name, factor_label(name), level)
                for name, level in state.levels.items()
            ],
            "error": message,
            "pharmacovigilance": selectors.holds_pharmacovigilance(user, found.study),
        },
        status=status,
    )
