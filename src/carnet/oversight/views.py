"""Oversight pages: a study's locks, a subject's locks and signatures (lock, unlock, sign), the
panel beside a form, the casebooks awaiting signature, and the audit trail with its CSV and PDF
exports. Thin: selectors decide what the person sees (unknown and forbidden are the same 404),
services decide what they may do; a refusal is shown on the page."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from carnet.accounts.models import User
from carnet.accounts.permissions import PermissionDenied, may, person_asking, site_scope
from carnet.accounts.roles import Action
from carnet.accounts.selectors import my_studies, study_access, study_for_actor, study_sites
from carnet.core.errors import CarnetError
from carnet.oversight import selectors, trail
from carnet.oversight.models import Scope
from carnet.oversight.services import Place, data_lock, data_sign, data_unlock
from carnet.studies.models import Study
from carnet.subjects.models import Subject
from carnet.subjects.selectors import subject_for_actor


def _user(request: HttpRequest) -> User:
    return person_asking(request.user)


def _study(request: HttpRequest, identifier: str, action: Action = Action.VIEW_SUBJECTS) -> Study:
    try:
        study = study_for_actor(_user(request), identifier)
    except PermissionDenied as error:
        raise Http404(str(error)) from error
    if not may(_user(request), action, study=study):
        raise Http404("No such page.")
    return study


def _subject(request: HttpRequest, study: Study, identifier: str) -> Subject:
    try:
        return subject_for_actor(_user(request), study=study, identifier=identifier)
    except PermissionDenied as error:
        raise Http404(str(error)) from error


def _next(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return default


def _int(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None


def _place_read(request: HttpRequest, subject: Subject) -> Place:
    """Return the place a form of the subject's page names: "subject", "visit:E:N" or
    "form:E:N:F:R"."""
    parts = request.POST.get("place", "").split(":")
    scope = parts[0]
    return Place(
        scope=scope,
        site=subject.site,
        subject=subject,
        event=parts[1] if len(parts) > 2 else "",
        occurrence=_int(parts[2]) if len(parts) > 2 else None,
        form=parts[3] if len(parts) > 4 else "",
        repeat=_int(parts[4]) if len(parts) > 4 else None,
    )


# --- locks of a study --------------------------------------------------------------------------


@login_required
@require_GET
def locks_page(request: HttpRequest, identifier: str) -> HttpResponse:
    """Return the study's locks (in force first, then lifted), with a site lock for data
    managers and an unlock for each lock in force."""
    study = _study(request, identifier)
    user = _user(request)
    locks = list(selectors.locks_of_study(user, study)[:500])
    manage = may(user, Action.MANAGE_DATA, study=study)
    return render(
        request,
        "oversight/locks.html",
        {
            "study": study,
            "in_force": [lock for lock in locks if lock.in_force],
            "lifted": [lock for lock in locks if not lock.in_force],
            "manage": manage,
            "sites": list(study_sites(study)) if manage else [],
            "problem": request.GET.get("problem", ""),
        },
    )


@login_required
@require_POST
def unlock_action(request: HttpRequest, identifier: str, pk: int) -> HttpResponse:
    study = _study(request, identifier)
    back = _next(request, reverse("oversight:locks", args=[study.identifier]))
    try:
        lock = selectors.lock_of_study(_user(request), study, pk)
        data_unlock(actor=_user(request), lock=lock, reason=request.POST.get("reason", ""))
    except CarnetError as error:
        return _back_with(back, str(error))
    return HttpResponseRedirect(back)


@login_required
@require_POST
def site_lock_action(request: HttpRequest, identifier: str) -> HttpResponse:
    """Lock a site's data (data managers), with a reason."""
    study = _study(request, identifier)
    back = reverse("oversight:locks", args=[study.identifier])
    try:
        site = selectors.site_of_study(
            _user(request), study, request.POST.get("site", ""), Action.MANAGE_DATA
        )
        data_lock(
            actor=_user(request),
            study=study,
            place=Place(scope=Scope.SITE, site=site),
            reason=request.POST.get("reason", ""),
        )
    except CarnetError as error:
        return _back_with(back, str(error))
    return HttpResponseRedirect(back)


def _back_with(back: str, problem: str) -> HttpResponseRedirect:
    joiner = "&" if "?" in back else "?"
    return HttpResponseRedirect(f"{back}{joiner}{urlencode({'problem': problem})}")


# --- a subject's locks and signatures ------------------------------------------------------------


@login_required
@require_GET
def subject_page(request: HttpRequest, identifier: str, subject: str) -> HttpResponse:
    """Return a subject's locks in force and signatures (voided ones visibly), with the lock
    form for data managers and the signature form for the site's investigators."""
    study = _study(request, identifier)
    found = _subject(request, study, subject)
    return render(request, "oversight/subject.html", _subject_context(request, study, found))


def _subject_context(request: HttpRequest, study: Study, found: Subject) -> dict[str, Any]:
    user = _user(request)
    sign = may(user, Action.SIGN_DATA, study=study, site=found.site)
    return {
        "study": study,
        "subject": found,
        "locks": selectors.locks_of_subject(found),
        "signatures": selectors.signatures_of_subject(found),
        "places": selectors.places_of_subject(found),
        "manage": may(user, Action.MANAGE_DATA, study=study, site=found.site),
        "sign": sign,
        "signing": study_access(user, study) if sign else None,
        "problem": request.GET.get("problem", ""),
        "here": request.get_full_path(),
    }


@login_required
@require_POST
def lock_action(request: HttpRequest, identifier: str, subject: str) -> HttpResponse:
    """Lock a place of the subject's data (``place``), with a reason; back to ``next``."""
    study = _study(request, identifier)
    found = _subject(request, study, subject)
    back = _next(request, reverse("oversight:subject", args=[study.identifier, found.identifier]))
    try:
        data_lock(
            actor=_user(request),
            study=study,
            place=_place_read(request, found),
            reason=request.POST.get("reason", ""),
        )
    except CarnetError as error:
        return _back_with(back, str(error))
    return HttpResponseRedirect(back)


@login_required
@require_POST
def sign_action(request: HttpRequest, identifier: str, subject: str) -> HttpResponse:
    """Sign a place of the subject's data with the e-signature; back to ``next``."""
    study = _study(request, identifier)
    found = _subject(request, study, subject)
    back = _next(request, reverse("oversight:subject", args=[study.identifier, found.identifier]))
    try:
        data_sign(
            actor=_user(request),
            place=_place_read(request, found),
            password=request.POST.get("password", ""),
            totp_code=request.POST.get("totp_code", ""),
            meaning=request.POST.get("meaning", ""),
        )
    except CarnetError as error:
        return _back_with(back, str(error))
    return HttpResponseRedirect(back)


@login_required
@require_GET
def form_panel(
    request: HttpRequest, identifier: str, subject: str, event: str, occurrence: int, form: str
) -> HttpResponse:
    """Return the panel beside a form: what locks and signs it, and the actions on it."""
    study = _study(request, identifier)
    found = _subject(request, study, subject)
    repeat = _int(request.GET.get("repeat")) or 1
    place = f"form:{event}:{occurrence}:{form}:{repeat}"
    context = _subject_context(request, study, found)
    covering = [
        lock
        for lock in context["locks"]
        if lock.scope in {Scope.SITE, Scope.SUBJECT}
        or ((lock.event, lock.occurrence) == (event, occurrence) and lock.scope == Scope.VISIT)
        or (lock.event, lock.occurrence, lock.form, lock.repeat)
        == (event, occurrence, form, repeat)
    ]
    signed = [
        s
        for s in context["signatures"]
        if s.scope == Scope.SUBJECT
        or ((s.event, s.occurrence) == (event, occurrence) and s.scope == Scope.VISIT)
        or (s.event, s.occurrence, s.form, s.repeat) == (event, occurrence, form, repeat)
    ]
    form_page = reverse(
        "capture:form", args=[study.identifier, found.identifier, event, occurrence, form]
    )
    context.update(
        {
            "locks": covering,
            "signatures": signed,
            "place": place,
            "here": form_page + (f"?repeat={repeat}" if repeat > 1 else ""),
        }
    )
    htmx = bool(request.headers.get("HX-Request"))
    return render(
        request, "oversight/_panel.html" if htmx else "oversight/form_panel.html", context
    )


# --- casebooks awaiting signature --------------------------------------------------------------


@login_required
@require_GET
def awaiting_page(request: HttpRequest, identifier: str) -> HttpResponse:
    study = _study(request, identifier)
    return render(
        request,
        "oversight/awaiting.html",
        {"study": study, "sites": selectors.casebooks_awaiting_signature(_user(request), study)},
    )


# --- the audit trail -----------------------------------------------------------------------------


def _trail_study(request: HttpRequest, identifier: str) -> Study:
    study = _study(request, identifier, Action.VIEW_AUDIT_TRAIL)
    try:
        trail.trail_study_check(_user(request), study)
    except PermissionDenied as error:
        raise Http404(str(error)) from error
    return study


def _trail_context(request: HttpRequest, study: Study | None) -> dict[str, Any]:
    problem = ""
    try:
        filters = trail.TrailFilters.read(request.GET.dict())
    except CarnetError as error:
        filters, problem = trail.TrailFilters(), str(error)
    page = trail.trail_page(
        _user(request), study=study, filters=filters, before=_int(request.GET.get("before"))
    )
    query = filters.query()
    more = urlencode({**query, "before": page.next_before}) if page.next_before else ""
    return {
        "study": study,
        "page": page,
        "filters": filters,
        "query": urlencode(query),
        "next_query": more,
        "problem": problem,
        "first": "before" in request.GET,
    }


@login_required
@require_GET
def trail_page(request: HttpRequest, identifier: str) -> HttpResponse:
    """Return one page of the study's audit trail, filtered, with its exports."""
    study = _trail_study(request, identifier)
    return render(request, "oversight/trail.html", _trail_context(request, study))


def _export_filters(request: HttpRequest) -> trail.TrailFilters:
    try:
        return trail.TrailFilters.read(request.GET.dict())
    except CarnetError as error:
        raise Http404(str(error)) from error


@login_required
@require_GET
def trail_csv(request: HttpRequest, identifier: str) -> StreamingHttpResponse:
    """Stream the filtered trail as CSV (oldest first; memory stays flat)."""
    study = _trail_study(request, identifier)
    rows = trail.trail_rows(_user(request), study=study, filters=_export_filters(request))
    response = StreamingHttpResponse(trail.csv_lines(rows), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="audit-{study.identifier}.csv"'
    return response


@login_required
@require_GET
def trail_pdf(request: HttpRequest, identifier: str) -> HttpResponse:
    """Return the filtered trail as a PDF."""
    study = _trail_study(request, identifier)
    filters = _export_filters(request)
    rows = trail.trail_rows(_user(request), study=study, filters=filters)
    try:
        pdf = trail.trail_pdf(rows, study=study, filters=filters)
    except CarnetError as error:
        return HttpResponse(str(error), status=400, content_type="text/plain; charset=utf-8")
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="audit-{study.identifier}.pdf"'
    return response


@login_required
@require_GET
def administration_trail_page(request: HttpRequest) -> HttpResponse:
    """Return the trails an administrator may read: the system's (users, roles, settings) for
    system administrators, and a link to each study's trail they may browse."""
    user = _user(request)
    studies = [
        study
        for study in my_studies(user)
        if may(user, Action.VIEW_AUDIT_TRAIL, study=study)
        and site_scope(user, Action.VIEW_AUDIT_TRAIL, study=study).all_sites
    ]
    if not user.is_superuser and not studies:
        raise Http404("No such page.")
    context = _trail_context(request, None) if user.is_superuser else {}
    return render(request, "oversight/administration.html", {**context, "studies": studies})
