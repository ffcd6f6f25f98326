"""Study pages: the outline and schedule of a study, its versions, its mode and publication."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from carnet.accounts.models import User
from carnet.accounts.permissions import PermissionDenied, may
from carnet.accounts.roles import Action
from carnet.accounts.selectors import sites_visible, study_for_actor
from carnet.accounts.sign_in import two_factor_enrolled
from carnet.accounts.signatures import (
    MODE_CHANGE_MEANING,
    signature_meanings,
    study_mode_change_signed,
)
from carnet.core.errors import CarnetError
from carnet.studies.definition.diff import definition_diff
from carnet.studies.definition.outline import schedule_text
from carnet.studies.models import Study, StudyMode
from carnet.studies.selectors import (
    study_has_draft,
    study_version_and_previous,
    study_version_shown,
    study_versions,
)
from carnet.studies.services import MODE_MOVES, study_publish


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _study(request: HttpRequest, identifier: str) -> Study:
    try:
        return study_for_actor(_user(request), identifier)
    except PermissionDenied as error:
        raise Http404(str(error)) from error


def _study_url(identifier: str) -> str:
    return reverse("studies:study", args=[identifier])


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
        _study_url(identifier)
        if identifier.replace("-", "").replace("_", "").isalnum()
        else reverse("web:home")
    )


@login_required
def study_page(request: HttpRequest, identifier: str) -> HttpResponse:
    """Return a study's page: outline, schedule grid, versions, mode."""
    study = _study(request, identifier)
    user = _user(request)
    version = study_version_shown(study)
    definition = version.parsed() if version else None
    manage = may(user, Action.MANAGE_STUDY, study=study)
    return render(
        request,
        "studies/study.html",
        {
            "study": study,
            "version": version,
            "definition": definition,
            "events": [(event, schedule_text(event)) for event in definition.events]
            if definition
            else [],
            "grid": _grid(definition) if definition else None,
            "versions": study_versions(study),
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
            "has_draft": study_has_draft(study),
            "test_view_switch": study.mode != StudyMode.TEST
            and may(user, Action.VIEW_SUBJECTS, study=study),
        },
    )


@login_required
def study_version_page(request: HttpRequest, identifier: str, number: int) -> HttpResponse:
    """Return one version: its changes from the version it amends, and the migration report."""
    study = _study(request, identifier)
    found = study_version_and_previous(study, number)
    if found is None:
        raise Http404("No such version.")
    version, previous = found
    changes = definition_diff(previous.parsed(), version.parsed()) if previous else []
    return render(
        request,
        "studies/study_version.html",
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
    return HttpResponseRedirect(_study_url(identifier))


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
    return HttpResponseRedirect(_study_url(identifier))
