"""Deviation pages: the study's register (filters, pages, CSV), a subject's deviations with the
declaration form, and one deviation with the data manager's review.

Thin: the selectors decide what the person may see (an unknown and a forbidden page are the
same 404), the services decide what they may do; refusals are shown next to their field.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from django import forms
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
from django.utils.translation import get_language
from django.views.decorators.http import require_GET, require_http_methods

from carnet.accounts.models import User
from carnet.accounts.permissions import PermissionDenied, may
from carnet.accounts.roles import Action
from carnet.accounts.selectors import sites_visible, study_for_actor
from carnet.quality import deviation_selectors as selectors
from carnet.quality.deviation_forms import DeclarationForm, DeviationFilterForm, ReviewForm
from carnet.quality.deviations import (
    DECLARING_ACTIONS,
    DeviationRefused,
    deviation_categories,
    deviation_declare,
    deviation_review,
)
from carnet.studies.models import Study
from carnet.subjects.models import Subject
from carnet.subjects.selectors import PER_PAGE, ListPage, subject_for_actor


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _language() -> str:
    return (get_language() or "en")[:2]


def _study(request: HttpRequest, identifier: str) -> Study:
    """Return the study when the person may view its subjects somewhere; 404 otherwise."""
    try:
        study = study_for_actor(_user(request), identifier)
    except PermissionDenied as error:
        raise Http404(str(error)) from error
    if not may(_user(request), Action.VIEW_SUBJECTS, study=study):
        raise Http404("No such page.")
    return study


def _subject(request: HttpRequest, study: Study, identifier: str) -> Subject:
    try:
        return subject_for_actor(_user(request), study=study, identifier=identifier)
    except PermissionDenied as error:
        raise Http404(str(error)) from error


def _page_number(request: HttpRequest) -> int:
    try:
        return max(1, int(request.GET.get("page", "1")))
    except ValueError:
        return 1


def _pager(request: HttpRequest, page: ListPage[Any]) -> dict[str, Any]:
    def link(number: int) -> str:
        query = request.GET.copy()
        query["page"] = str(number)
        return "?" + query.urlencode()

    return {
        "page": page,
        "previous": link(page.number - 1) if page.has_previous else None,
        "next": link(page.number + 1) if page.has_next else None,
    }


def _filter_form(request: HttpRequest, study: Study) -> DeviationFilterForm:
    return DeviationFilterForm(
        request.GET or None,
        sites=sites_visible(_user(request), study=study),
        categories=deviation_categories(study),
        language=_language(),
    )


def _filters(form: DeviationFilterForm) -> dict[str, str]:
    data = form.cleaned_data if form.is_bound else {}
    return {
        key: data.get(key) or ""
        for key in ("site", "subject", "deviation_class", "category", "status")
    }


@login_required
@require_GET
def deviation_register_page(request: HttpRequest, identifier: str) -> HttpResponse:
    """Return one page of the study's deviations the person may see, filtered, with the size
    of the per-protocol population."""
    study = _study(request, identifier)
    user = _user(request)
    form = _filter_form(request, study)
    status = 200
    found = ListPage[selectors.DeviationRow]([], 0, 1, PER_PAGE)
    if form.is_bound and not form.is_valid():
        status = 400
    else:
        filters = _filters(form)
        found = selectors.deviation_list(
            user,
            study=study,
            page=_page_number(request),
            site=filters["site"],
            subject=filters["subject"],
            deviation_class=filters["deviation_class"],
            category=filters["category"],
            status=filters["status"],
        )
    population = selectors.per_protocol_count(study=study, actor=user)
    return render(
        request,
        "quality/deviations/register.html",
        {
            "study": study,
            "form": form,
            "rows": found.rows,
            "list": _pager(request, found),
            "population": population,
            "csv_query": request.GET.urlencode(),
        },
        status=status,
    )


class _Echo:
    """A file whose writes are returned: the CSV writer feeds the streamed response."""

    def write(self, value: str) -> str:
        return value


def _csv_lines(rows: Iterator[selectors.DeviationRow]) -> Iterator[str]:
    writer = csv.DictWriter(_Echo(), fieldnames=selectors.DEVIATION_COLUMNS)
    yield writer.writeheader()
    for row in rows:
        yield writer.writerow(selectors.deviation_record(row))


@login_required
@require_GET
def deviation_register_csv(
    request: HttpRequest, identifier: str
) -> HttpResponse | StreamingHttpResponse:
    """Return every deviation the page's filters keep, as CSV (streamed)."""
    study = _study(request, identifier)
    form = _filter_form(request, study)
    if form.is_bound and not form.is_valid():
        return HttpResponse(str(form.errors.as_text()), status=400, content_type="text/plain")
    rows = selectors.deviation_rows(_user(request), study=study, **_filters(form))
    response = StreamingHttpResponse(_csv_lines(rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{study.identifier}-deviations.csv"'
    return response


def _refusal_shown(form: forms.Form, refused: DeviationRefused) -> None:
    """Put a service's refusal next to the field it names, else above the form."""
    if refused.field in form.fields:
        form.add_error(refused.field, refused.why)
    else:
        form.add_error(None, str(refused))


def _declaring(user: User, subject: Subject) -> bool:
    return any(
        may(user, action, study=subject.study, site=subject.site) for action in DECLARING_ACTIONS
    )


@login_required
@require_http_methods(["GET", "POST"])
def subject_deviations_page(request: HttpRequest, identifier: str, subject: str) -> HttpResponse:
    """Return a subject's deviations, and declare one (site staff, monitor, data manager)."""
    study = _study(request, identifier)
    user = _user(request)
    found = _subject(request, study, subject)
    categories = deviation_categories(study)
    form = DeclarationForm(request.POST or None, categories=categories, language=_language())
    status = 200
    if request.method == "POST":
        if not _declaring(user, found):
            raise Http404("No such page.")
        if form.is_valid():
            try:
                deviation_declare(actor=user, subject=found, **form.cleaned_data)
            except DeviationRefused as refused:
                _refusal_shown(form, refused)
            else:
                return HttpResponseRedirect(
                    reverse("quality:subject_deviations", args=[study.identifier, found.identifier])
                )
        status = 400
    rows = selectors.deviation_list(user, study=study, subject=found.identifier, per_page=None).rows
    return render(
        request,
        "quality/deviations/subject.html",
        {
            "study": study,
            "subject": found,
            "rows": rows,
            "form": form if _declaring(user, found) else None,
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def deviation_page(request: HttpRequest, identifier: str, number: int) -> HttpResponse:
    """Return one deviation, and review it (the data manager)."""
    study = _study(request, identifier)
    user = _user(request)
    try:
        deviation = selectors.deviation_for_actor(user, study=study, pk=number)
    except PermissionDenied as error:
        raise Http404(str(error)) from error
    reviewing = may(user, Action.MANAGE_DATA, study=study, site=deviation.subject.site)
    form = ReviewForm(
        request.POST or None,
        categories=deviation_categories(study),
        language=_language(),
        initial={
            "decision": "confirmed",
            "deviation_class": deviation.deviation_class,
            "category": deviation.category,
        },
    )
    status = 200
    if request.method == "POST":
        if not reviewing:
            raise Http404("No such page.")
        if form.is_valid():
            try:
                deviation_review(actor=user, deviation=deviation, **form.cleaned_data)
            except DeviationRefused as refused:
                _refusal_shown(form, refused)
            else:
                return HttpResponseRedirect(
                    reverse("quality:deviation", args=[study.identifier, deviation.pk])
                )
        status = 400
    return render(
        request,
        "quality/deviations/deviation.html",
        {
            "study": study,
            "row": selectors.deviation_row(user, study=study, deviation=deviation),
            "form": form if reviewing else None,
        },
        status=status,
    )
