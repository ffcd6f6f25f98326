"""Monitoring pages: a study's monitoring (plan, SDV progress per site and per monitor, visits),
the plan's setting, a subject's SDV with the bulk actions, the SDV panel beside a form, and a
monitoring visit with its report (HTML and PDF). Thin: selectors decide what the person sees
(unknown and forbidden are the same 404), services what they may do; a refusal is shown."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from carnet.accounts.models import User
from carnet.accounts.permissions import PermissionDenied, may, person_asking, site_scope
from carnet.accounts.roles import Action
from carnet.accounts.selectors import study_for_actor, study_sites
from carnet.core.errors import CarnetError
from carnet.monitoring import selectors
from carnet.monitoring.models import MonitoringVisit, PlanRule
from carnet.monitoring.report import visit_report_pdf
from carnet.monitoring.services import (
    monitoring_plan_set,
    monitoring_visit_close,
    monitoring_visit_create,
    monitoring_visit_update,
    sdv_verify,
)
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


def _visit(request: HttpRequest, study: Study, pk: int) -> MonitoringVisit:
    try:
        return selectors.visit_of_study(_user(request), study, pk)
    except PermissionDenied as error:
        raise Http404(str(error)) from error


def _next(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return default


def _back_with(back: str, problem: str) -> HttpResponseRedirect:
    joiner = "&" if "?" in back else "?"
    return HttpResponseRedirect(f"{back}{joiner}{urlencode({'problem': problem})}")


def _int(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() else None


def _names(text: str) -> list[str]:
    return [name for name in text.replace(",", " ").split() if name]


# --- a study's monitoring ------------------------------------------------------------------------


@login_required
@require_GET
def monitoring_page(request: HttpRequest, identifier: str) -> HttpResponse:
    """Return the study's plan, its SDV progress per site and per monitor, and its visits."""
    study = _study(request, identifier)
    user = _user(request)
    monitor_scope = site_scope(user, Action.MONITOR, study=study)
    sites = [s for s in study_sites(study) if monitor_scope.allows(s)]
    return render(
        request,
        "monitoring/monitoring.html",
        {
            "study": study,
            "plan": selectors.plan_of(study),
            "by_site": selectors.sdv_progress_by_site(user, study),
            "by_monitor": selectors.sdv_progress_by_monitor(user, study),
            "visits": list(selectors.visits_of_study(user, study)[:200]),
            "monitor_sites": sites,
            "manage": may(user, Action.MANAGE_STUDY, study=study),
            "today": date.today(),
            "problem": request.GET.get("problem", ""),
        },
    )


@login_required
def plan_page(request: HttpRequest, identifier: str) -> HttpResponse:
    """Return the plan's setting (data managers) and set it on POST (audited)."""
    study = _study(request, identifier, Action.MANAGE_STUDY)
    problem = ""
    if request.method == "POST":
        try:
            monitoring_plan_set(
                actor=_user(request),
                study=study,
                rule=request.POST.get("rule", ""),
                first_patients=_int(request.POST.get("first_patients")) or 0,
                share_percent=_int(request.POST.get("share_percent")) or 0,
                seed=request.POST.get("seed", ""),
            )
        except CarnetError as error:
            problem = str(error)
        else:
            return HttpResponseRedirect(reverse("monitoring:monitoring", args=[study.identifier]))
    return render(
        request,
        "monitoring/plan.html",
        {
            "study": study,
            "plan": selectors.plan_of(study),
            "rules": _rule_labels(),
            "problem": problem,
        },
        status=400 if problem else 200,
    )


def _rule_labels() -> list[tuple[str, str]]:
    return [
        (PlanRule.ALL, _("Every item entered")),
        (PlanRule.CRITICAL, _("SDV-critical items only")),
        (
            PlanRule.FIRST_PATIENTS,
            _("Every item of the first patients of each site, then SDV-critical items"),
        ),
        (
            PlanRule.RANDOM_SHARE,
            _("Every item of a drawn share of each site's patients, then SDV-critical items"),
        ),
    ]


# --- a subject's SDV -----------------------------------------------------------------------------


def _subject_context(request: HttpRequest, study: Study, found: Subject) -> dict[str, Any]:
    user = _user(request)
    states = selectors.sdv_states(found, language=get_language() or "en")
    visits: dict[tuple[str, int], list[selectors.FormState]] = {}
    for state in states:
        visits.setdefault((state.instance.event, state.instance.occurrence), []).append(state)
    verify = may(user, Action.MONITOR, study=study, site=found.site)
    return {
        "study": study,
        "subject": found,
        "visits": [
            {"event": event, "occurrence": occurrence, "forms": forms}
            for (event, occurrence), forms in visits.items()
        ],
        "verify": verify,
        "open_visit": selectors.open_visit_of(user, found.site) if verify else None,
        "problem": request.GET.get("problem", ""),
        "here": request.get_full_path(),
    }


@login_required
@require_GET
def subject_page(request: HttpRequest, identifier: str, subject: str) -> HttpResponse:
    """Return the SDV of a subject's casebook, form by form, with the bulk actions (monitors)."""
    study = _study(request, identifier)
    found = _subject(request, study, subject)
    return render(request, "monitoring/subject.html", _subject_context(request, study, found))


@login_required
@require_POST
def verify_action(request: HttpRequest, identifier: str, subject: str) -> HttpResponse:
    """Verify a place of the subject's data: the casebook, a visit, a form or one item."""
    study = _study(request, identifier)
    found = _subject(request, study, subject)
    back = _next(request, reverse("monitoring:subject", args=[study.identifier, found.identifier]))
    post = request.POST
    try:
        sdv_verify(
            actor=_user(request),
            subject=found,
            event=post.get("event", ""),
            occurrence=_int(post.get("occurrence")),
            form=post.get("form", ""),
            repeat=_int(post.get("repeat")),
            item=post.get("item", ""),
            row=_int(post.get("row")),
        )
    except CarnetError as error:
        return _back_with(back, str(error))
    return HttpResponseRedirect(back)


@login_required
@require_GET
def form_panel(
    request: HttpRequest, identifier: str, subject: str, event: str, occurrence: int, form: str
) -> HttpResponse:
    """Return the SDV panel beside a form: each entered item's SDV and the verify actions."""
    study = _study(request, identifier)
    found = _subject(request, study, subject)
    repeat = _int(request.GET.get("repeat")) or 1
    context = _subject_context(request, study, found)
    forms = [
        state
        for visit in context["visits"]
        for state in visit["forms"]
        if (
            state.instance.event,
            state.instance.occurrence,
            state.instance.form,
            state.instance.repeat,
        )
        == (event, occurrence, form, repeat)
    ]
    form_page = reverse(
        "capture:form", args=[study.identifier, found.identifier, event, occurrence, form]
    )
    context.update(
        {"forms": forms, "here": form_page + (f"?repeat={repeat}" if repeat > 1 else "")}
    )
    htmx = bool(request.headers.get("HX-Request"))
    return render(
        request, "monitoring/_panel.html" if htmx else "monitoring/form_panel.html", context
    )


# --- monitoring visits ---------------------------------------------------------------------------


@login_required
@require_POST
def visit_new_action(request: HttpRequest, identifier: str) -> HttpResponse:
    """Open a monitoring visit of a site (its monitors)."""
    study = _study(request, identifier)
    back = reverse("monitoring:monitoring", args=[study.identifier])
    try:
        site = selectors.site_for(
            _user(request), study, request.POST.get("site", ""), Action.MONITOR
        )
        visit = monitoring_visit_create(
            actor=_user(request),
            study=study,
            site=site,
            visit_date=_date(request.POST.get("visit_date", "")),
            subjects=_names(request.POST.get("subjects", "")),
        )
    except CarnetError as error:
        return _back_with(back, str(error))
    return HttpResponseRedirect(reverse("monitoring:visit", args=[study.identifier, visit.pk]))


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as error:
        raise CarnetError(_("visit_date: give the date as YYYY-MM-DD.")) from error


@login_required
@require_GET
def visit_page(request: HttpRequest, identifier: str, pk: int) -> HttpResponse:
    """Return a visit's report, with the form of its record while its monitor keeps it open."""
    study = _study(request, identifier)
    visit = _visit(request, study, pk)
    return render(
        request,
        "monitoring/visit.html",
        {
            "study": study,
            "report": selectors.visit_report(visit),
            "edit": visit.is_open and visit.monitor_id == _user(request).pk,
            "problem": request.GET.get("problem", ""),
        },
    )


@login_required
@require_POST
def visit_update_action(request: HttpRequest, identifier: str, pk: int) -> HttpResponse:
    study = _study(request, identifier)
    visit = _visit(request, study, pk)
    back = reverse("monitoring:visit", args=[study.identifier, visit.pk])
    try:
        monitoring_visit_update(
            actor=_user(request),
            visit=visit,
            findings=request.POST.get("findings", ""),
            follow_up=request.POST.get("follow_up", ""),
            subjects=_names(request.POST.get("subjects", "")),
        )
        if request.POST.get("close"):
            monitoring_visit_close(actor=_user(request), visit=visit)
    except CarnetError as error:
        return _back_with(back, str(error))
    return HttpResponseRedirect(back)


@login_required
@require_GET
def visit_pdf(request: HttpRequest, identifier: str, pk: int) -> HttpResponse:
    """Return a monitoring visit's report as a PDF."""
    study = _study(request, identifier)
    visit = _visit(request, study, pk)
    try:
        pdf = visit_report_pdf(visit)
    except CarnetError as error:
        return HttpResponse(str(error), status=400, content_type="text/plain; charset=utf-8")
    response = HttpResponse(pdf, content_type="application/pdf")
    name = f"monitoring-visit-{study.identifier}-{visit.site.code}-{visit.visit_date}.pdf"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
