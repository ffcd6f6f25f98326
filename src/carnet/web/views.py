"""Home, study pages and the health check."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import DatabaseError, connection
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.templatetags.static import static
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from carnet import __version__
from carnet.accounts.models import User
from carnet.accounts.permissions import PermissionDenied, may, studies_visible
from carnet.accounts.roles import Action
from carnet.accounts.selectors import my_memberships, sites_visible, study_for_actor
from carnet.accounts.sign_in import (
    lockouts_list,
    recovery_codes_left,
    two_factor_enrolled,
    two_factor_required,
)
from carnet.accounts.signatures import (
    MODE_CHANGE_MEANING,
    signature_meanings,
    study_mode_change_signed,
)
from carnet.core.errors import CarnetError
from carnet.studies.definition.diff import definition_diff
from carnet.studies.definition.outline import schedule_text
from carnet.studies.models import Study, StudyMode, StudyVersion
from carnet.studies.services import MODE_MOVES, study_publish
from carnet.subjects.environments import SESSION_KEY, session_test_view


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def home(request: HttpRequest) -> HttpResponse:
    """Return the front page: for a signed-in person, their studies and what waits for them."""
    if not request.user.is_authenticated:
        return render(request, "web/landing.html")
    user = _user(request)
    studies = []
    tasks: list[tuple[str, str]] = []
    for study in studies_visible(user).select_related("current_version").order_by("identifier"):
        roles = sorted({m.get_role_display() for m in my_memberships(user).filter(study=study)})
        sites = [f"{s.code} {s.centre.code}" for s in sites_visible(user, study=study)]
        version = study.current_version
        # The title in the reader's language, as the study file gives it in both.
        title = version.parsed().title.text(_definition_language()) if version else ""
        studies.append({"study": study, "title": title, "roles": roles, "sites": sites})
        if (
            may(user, Action.MANAGE_STUDY, study=study)
            and study.versions.filter(status="draft").exists()
        ):
            tasks.append(
                (
                    _("A draft version of %(study)s awaits publication.")
                    % {"study": study.identifier},
                    f"/studies/{study.identifier}/",
                )
            )
    if two_factor_required(user) and not two_factor_enrolled(user):
        tasks.append((_("Set up your second sign-in factor."), "/account/two-factor/"))
    elif two_factor_enrolled(user) and recovery_codes_left(user) < 3:
        tasks.append((_("Few recovery codes are left: make new ones."), "/account/"))
    if user.is_superuser:
        locked = len(lockouts_list())
        if locked:
            tasks.append(
                (
                    _("%(count)s account(s) locked after failed sign-ins.") % {"count": locked},
                    "/administration/lockouts/",
                )
            )
    return render(request, "web/home.html", {"studies": studies, "tasks": tasks})


def _definition_language() -> str:
    """Return the language of the page as study files name them: "fr" or "en"."""
    return "fr" if (get_language() or "en").startswith("fr") else "en"


def _study(request: HttpRequest, identifier: str) -> Study:
    try:
        return study_for_actor(_user(request), identifier)
    except PermissionDenied as error:
        raise Http404(str(error)) from error


def _grid(definition: Any) -> dict[str, Any]:
    return {
        "events": definition.events,
        "rows": [
            {"form": form, "cells": [form.name in event.forms for event in definition.events]}
            for form in definition.forms
        ],
    }


@login_required
def study_switch(request: HttpRequest) -> HttpResponse:
    """Open the study chosen in the navigation's switcher."""
    identifier = request.GET.get("identifier", "")
    return HttpResponseRedirect(
        f"/studies/{identifier}/" if identifier.replace("-", "").replace("_", "").isalnum() else "/"
    )


@login_required
def study_page(request: HttpRequest, identifier: str) -> HttpResponse:
    """Return a study's page: outline, schedule grid, versions, mode."""
    study = _study(request, identifier)
    user = _user(request)
    version = study.current_version or study.versions.order_by("-number").first()
    definition = version.parsed() if version else None
    manage = may(user, Action.MANAGE_STUDY, study=study)
    return render(
        request,
        "web/study.html",
        {
            "study": study,
            "version": version,
            "definition": definition,
            "events": [(event, schedule_text(event)) for event in definition.events]
            if definition
            else [],
            "grid": _grid(definition) if definition else None,
            "versions": study.versions.order_by("-number"),
            "sites": sites_visible(user, study=study),
            "manage": manage,
            "view_subjects": may(user, Action.VIEW_SUBJECTS, study=study),
            "include_subjects": may(user, Action.INCLUDE_SUBJECT, study=study),
            "modes": [(mode, StudyMode(mode).label) for mode in sorted(MODE_MOVES[study.mode])]
            if manage
            else [],
            "meanings": signature_meanings(study),
            "mode_change_meaning": MODE_CHANGE_MEANING,
            "two_factor": two_factor_enrolled(user),
            "has_draft": study.versions.filter(status="draft").exists(),
            "test_view_switch": study.mode != StudyMode.TEST
            and may(user, Action.VIEW_SUBJECTS, study=study),
        },
    )


@login_required
@require_POST
def study_test_view_page(request: HttpRequest, identifier: str) -> HttpResponse:
    """Turn the test view of a study on or off for this session, then go back where one was."""
    study = _study(request, identifier)
    if not may(_user(request), Action.VIEW_SUBJECTS, study=study):
        raise Http404("No such study.")
    studies = set(session_test_view(request.session.get(SESSION_KEY)))
    if request.POST.get("on") == "1":
        studies.add(study.identifier)
    else:
        studies.discard(study.identifier)
    request.session[SESSION_KEY] = sorted(studies)
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = f"/studies/{identifier}/"
    return HttpResponseRedirect(back)


@login_required
def study_version_page(request: HttpRequest, identifier: str, number: int) -> HttpResponse:
    """Return one version: its changes from the version it amends, and the migration report."""
    study = _study(request, identifier)
    version = StudyVersion.objects.filter(study=study, number=number).first()
    if version is None:
        raise Http404("No such version.")
    previous = (
        version.based_on or StudyVersion.objects.filter(study=study, number=number - 1).first()
    )
    changes = definition_diff(previous.parsed(), version.parsed()) if previous else []
    return render(
        request,
        "web/study_version.html",
        {
            "study": study,
            "version": version,
            "previous": previous,
            "changes": changes,
            "report": version.migration_report,
        },
    )


@login_required
@require_POST
def study_mode_page(request: HttpRequest, identifier: str) -> HttpResponse:
    """Move the study to another mode under the person's e-signature, with a reason."""
    study = _study(request, identifier)
    user = _user(request)
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
    return HttpResponseRedirect(f"/studies/{identifier}/")


@login_required
@require_POST
def study_publish_page(request: HttpRequest, identifier: str) -> HttpResponse:
    study = _study(request, identifier)
    user = _user(request)
    if not may(user, Action.MANAGE_STUDY, study=study):
        raise Http404("No such study.")
    try:
        version = study_publish(actor=user, study=study)
        messages.success(
            request, _("Version %(number)s is published.") % {"number": version.number}
        )
    except CarnetError as error:
        messages.error(request, str(error))
    return HttpResponseRedirect(f"/studies/{identifier}/")


@never_cache
def health(request: HttpRequest) -> JsonResponse:
    """Return 200 when the database answers, 503 otherwise (no detail leaks to the caller)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return JsonResponse({"status": "unavailable"}, status=503)
    return JsonResponse({"status": "ok", "version": __version__})


def favicon(request: HttpRequest) -> HttpResponse:
    """Send browsers that ask for /favicon.ico to Carnet's icon among the static files.

    Temporary (302), not permanent: in production the static file's name carries its hash,
    and a browser that kept a permanent redirect would ask for last release's file."""
    return HttpResponseRedirect(static("web/favicon.svg"))
