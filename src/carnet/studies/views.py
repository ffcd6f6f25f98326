"""Study pages: the outline and schedule of a study, its versions and its publication.

A change of mode is posted from the study's page to accounts (accounts/views/signatures.py): it
is an e-signed act.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from carnet.accounts.permissions import PermissionDenied, person_asking
from carnet.accounts.selectors import sites_visible, study_access, study_for_actor
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


def _study(request: HttpRequest, identifier: str) -> Study:
    try:
        return study_for_actor(person_asking(request.user), identifier)
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
    user = person_asking(request.user)
    version = study_version_shown(study)
    definition = version.parsed() if version else None
    access = study_access(user, study)
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
            "manage": access.manage,
            "view_subjects": access.view_subjects,
            "samples": access.samples,
            "include_subjects": access.include_subjects,
            "manage_data": access.manage_data,
            "export": access.export,
            "audit_trail": access.audit_trail,
            "manage_samples": access.manage_samples,
            "modes": [(mode, StudyMode(mode).label) for mode in sorted(MODE_MOVES[study.mode])]
            if access.manage
            else [],
            "meanings": access.meanings,
            "mode_change_meaning": access.mode_change_meaning,
            "two_factor": access.two_factor,
            "has_draft": study_has_draft(study),
            "test_view_switch": study.mode != StudyMode.TEST and access.view_subjects,
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
def study_publish_page(request: HttpRequest, identifier: str) -> HttpResponse:
    study = _study(request, identifier)
    user = person_asking(request.user)
    if not study_access(user, study).manage:
        raise Http404("No such study.")
    try:
        version = study_publish(actor=user, study=study)
        messages.success(
            request, _("Version %(number)s is published.") % {"number": version.number}
        )
    except CarnetError as error:
        messages.error(request, str(error))
    return HttpResponseRedirect(_study_url(identifier))
