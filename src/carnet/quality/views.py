"""Query pages: a study's query list (filters, pages, CSV export), one query with its thread,
and the drawer beside a form where the site answers in place (htmx; plain forms without it)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
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
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from carnet.accounts.models import User
from carnet.accounts.permissions import PermissionDenied, may
from carnet.accounts.roles import Action
from carnet.accounts.selectors import study_for_actor
from carnet.capture.models import FormInstance
from carnet.core.errors import CarnetError, ValidationError
from carnet.quality import selectors, services
from carnet.quality.automatic import query_settings_of
from carnet.quality.models import (
    ACTIVE_STATES,
    Query,
    QueryKind,
    QueryState,
)
from carnet.studies.models import Study
from carnet.subjects.models import Subject
from carnet.subjects.selectors import subject_for_actor

PER_PAGE = 50
ACTIONS = {
    "answer": services.query_answer,
    "confirm": services.query_confirm,
    "close": services.query_close,
    "reopen": services.query_reopen,
    "cancel": services.query_cancel,
}


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _language() -> str:
    return "fr" if (get_language() or "en").startswith("fr") else "en"


def _study(request: HttpRequest, identifier: str) -> Study:
    try:
        return study_for_actor(_user(request), identifier)
    except PermissionDenied as error:
        raise Http404(str(error)) from error


def _filters(request: HttpRequest) -> selectors.QueryFilters:
    get = request.GET
    min_days = get.get("min_days", "").strip()
    return selectors.QueryFilters(
        site=get.get("site", "").strip(),
        subject=get.get("subject", "").strip(),
        form=get.get("form", "").strip(),
        state=get.get("state", "active").strip(),
        kind=get.get("kind", "").strip(),
        raised_by=get.get("raised_by", "").strip(),
        min_days=int(min_days) if min_days.isdigit() else None,
    )


def _actions_for(actor: User, query: Query) -> list[str]:
    """Return what the actor may do to this query now, in the order the page offers them."""
    actions: list[str] = []
    answers = selectors.answerable_here(actor, query)
    closes = services.may_close(actor, query)
    if query.state in ACTIVE_STATES:
        if answers:
            actions.append("answer")
            if query.kind == QueryKind.AUTOMATIC and query.check_result_id is not None:
                actions.append("confirm")
        if closes:
            actions.extend(["close", "cancel"])
    elif query.state == QueryState.CLOSED and closes:
        actions.append("reopen")
    return actions


@login_required
@require_GET
def query_list_page(request: HttpRequest, identifier: str) -> HttpResponse:
    """Return a study's queries at the sites the person covers, filtered and paged."""
    study = _study(request, identifier)
    actor = _user(request)
    filters = _filters(request)
    try:
        found = selectors.queries_list(actor=actor, study=study, filters=filters)
    except PermissionDenied as error:
        raise Http404(str(error)) from error
    page = Paginator(found, PER_PAGE).get_page(request.GET.get("page"))
    rows = selectors.query_rows(
        actor=actor, study=study, queries=page.object_list, language=_language()
    )
    params = request.GET.copy()
    params.pop("page", None)
    return render(
        request,
        "quality/list.html",
        {
            "study": study,
            "rows": rows,
            "page": page,
            "filters": filters,
            "choices": selectors.query_filter_choices(actor=actor, study=study),
            "states": [("active", _("Waiting (open or answered)")), *QueryState.choices],
            "kinds": QueryKind.choices,
            "params": params.urlencode(),
            "may_manage": may(actor, Action.MANAGE_DATA, study=study),
            "may_settings": may(actor, Action.MANAGE_STUDY, study=study),
        },
    )


def _cell(value: Any) -> Any:
    """Return a value for a spreadsheet: free text that a spreadsheet would run as a formula
    (=, +, -, @) is kept as text."""
    if isinstance(value, str) and value[:1] in {"=", "+", "-", "@"}:
        return "'" + value
    return value


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_lines(actor: User, study: Study, filters: selectors.QueryFilters) -> Iterator[str]:
    writer = csv.writer(_Echo())
    columns = [
        "id",
        "site",
        "subject",
        "event",
        "occurrence",
        "form",
        "item",
        "row",
        "kind",
        "scope",
        "state",
        "resolution",
        "days_open",
        "raised_by",
        "opened_at",
        "text",
        "value",
    ]
    yield writer.writerow(columns)
    for row in selectors.query_export_rows(
        actor=actor, study=study, filters=filters, language=_language()
    ):
        yield writer.writerow(
            [
                row["opened_at"].isoformat() if name == "opened_at" else _cell(row[name])
                for name in columns
            ]
        )


@login_required
@require_GET
def query_export(request: HttpRequest, identifier: str) -> StreamingHttpResponse:
    """Return the filtered query list as CSV (values through the blinding policy)."""
    study = _study(request, identifier)
    if not may(_user(request), Action.VIEW_SUBJECTS, study=study):
        raise Http404("You may not see this study's queries.")
    response = StreamingHttpResponse(
        _csv_lines(_user(request), study, _filters(request)), content_type="text/csv"
    )
    response["Content-Disposition"] = f'attachment; filename="{study.identifier}-queries.csv"'
    return response


def _query_context(actor: User, study: Study, query: Query) -> dict[str, Any]:
    row = selectors.query_rows(actor=actor, study=study, queries=[query], language=_language())[0]
    return {
        "row": row,
        "query": query,
        "messages": selectors.query_thread(query=query),
        "actions": _actions_for(actor, query),
    }


@login_required
@require_GET
def query_page(request: HttpRequest, identifier: str, pk: int) -> HttpResponse:
    """Return one query, its thread, and what the person may do to it."""
    study = _study(request, identifier)
    actor = _user(request)
    try:
        query = selectors.query_get(actor=actor, study=study, pk=pk)
    except PermissionDenied as error:
        raise Http404(str(error)) from error
    return render(
        request,
        "quality/query.html",
        {"study": study, **_query_context(actor, study, query), "form_url": _form_url(query)},
    )


def _form_url(query: Query) -> str:
    if query.form_instance_id is None or not query.form:
        return ""
    url = reverse(
        "capture:form",
        args=[
            query.study.identifier,
            query.subject.identifier,
            query.event,
            query.occurrence or 1,
            query.form,
        ],
    )
    instance = query.form_instance
    return url + (f"?repeat={instance.repeat}" if instance and instance.repeat > 1 else "")


def _safe_next(request: HttpRequest, fallback: str) -> str:
    wanted = request.POST.get("next", "")
    if wanted and url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return wanted
    return fallback


@login_required
@require_POST
def query_action(request: HttpRequest, identifier: str, pk: int, action: str) -> HttpResponse:
    """Answer, confirm, close, re-open or cancel a query; back to the page it was done from
    (the drawer answers itself again under htmx)."""
    study = _study(request, identifier)
    actor = _user(request)
    service = ACTIONS.get(action)
    if service is None:
        raise Http404("No such action.")
    try:
        query = selectors.query_get(actor=actor, study=study, pk=pk)
    except PermissionDenied as error:
        raise Http404(str(error)) from error
    problem = ""
    try:
        service(actor=actor, query=query, text=request.POST.get("text", ""))
    except CarnetError as error:
        problem = str(error)
    if request.headers.get("HX-Request") and query.form_instance is not None:
        return _drawer(request, study, query.subject, query.form_instance, problem=problem)
    if problem:
        query = selectors.query_get(actor=actor, study=study, pk=pk)
        return render(
            request,
            "quality/query.html",
            {
                "study": study,
                **_query_context(actor, study, query),
                "form_url": _form_url(query),
                "problem": problem,
            },
            status=400,
        )
    return HttpResponseRedirect(
        _safe_next(request, reverse("quality:query", args=[study.identifier, pk]))
    )


def _form_instance(
    request: HttpRequest, identifier: str, subject: str, event: str, occurrence: int, form: str
) -> tuple[Study, Subject, FormInstance]:
    study = _study(request, identifier)
    try:
        found = subject_for_actor(_user(request), study=study, identifier=subject)
    except PermissionDenied as error:
        raise Http404(str(error)) from error
    repeat = request.GET.get("repeat") or request.POST.get("repeat") or "1"
    instance = selectors.form_instance_find(
        subject=found,
        event=event,
        occurrence=occurrence,
        form=form,
        repeat=int(repeat) if repeat.isdigit() else 1,
    )
    if instance is None:
        raise Http404("This form holds no data yet.")
    return study, found, instance


def _drawer_context(
    request: HttpRequest,
    study: Study,
    subject: Subject,
    instance: FormInstance,
    *,
    problem: str = "",
) -> dict[str, Any]:
    actor = _user(request)
    source = request.GET if request.method == "GET" else request.POST
    item = source.get("item", "")
    row_text = source.get("row", "")
    filters = selectors.QueryFilters(
        state="",
        form_instance_id=instance.pk,
        item=item,
        row=int(row_text) if item and row_text.isdigit() else None,
    )
    queries = list(selectors.queries_list(actor=actor, study=study, filters=filters))
    queries.sort(key=lambda q: (q.state not in ACTIVE_STATES, q.opened_at))
    where = [study.identifier, subject.identifier, instance.event, instance.occurrence]
    repeat = f"?repeat={instance.repeat}" if instance.repeat > 1 else ""
    return {
        "study": study,
        "subject": subject,
        "instance": instance,
        "entries": [_query_context(actor, study, query) for query in queries],
        "item": item,
        "row": row_text if item else "",
        "may_raise": may(actor, Action.RAISE_QUERY, study=study, site=subject.site),
        "may_review": may(actor, Action.MANAGE_DATA, study=study, site=subject.site),
        "reviewed": selectors.data_review_of(form_instance=instance),
        "review_url": reverse("quality:data_review", args=[*where, instance.form]) + repeat,
        "form_url": reverse("capture:form", args=[*where, instance.form]) + repeat,
        "drawer_url": reverse("quality:drawer", args=[*where, instance.form]) + repeat,
        "problem": problem,
    }


def _drawer(
    request: HttpRequest,
    study: Study,
    subject: Subject,
    instance: FormInstance,
    *,
    problem: str = "",
    page: bool = False,
    status: int = 200,
) -> HttpResponse:
    """Return the drawer: the fragment under htmx, a page of its own otherwise."""
    context = _drawer_context(request, study, subject, instance, problem=problem)
    template = "quality/drawer_page.html" if page else "quality/_drawer.html"
    return render(request, template, context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def drawer_page(
    request: HttpRequest, identifier: str, subject: str, event: str, occurrence: int, form: str
) -> HttpResponse:
    """Return the queries of a form (of one item with ``?item=&row=``) with what the person may
    do to each; POST raises a manual query on the form or one of its items."""
    study, found, instance = _form_instance(request, identifier, subject, event, occurrence, form)
    htmx = bool(request.headers.get("HX-Request"))
    if request.method == "GET":
        return _drawer(request, study, found, instance, page=not htmx)
    item = request.POST.get("item", "")
    row_text = request.POST.get("row", "0")
    problem = ""
    try:
        services.query_raise(
            actor=_user(request),
            subject=found,
            text=request.POST.get("text", ""),
            form_instance=instance,
            item=item,
            row=int(row_text) if row_text.isdigit() else 0,
        )
    except CarnetError as error:
        problem = str(error)
    if htmx or problem:
        return _drawer(
            request,
            study,
            found,
            instance,
            problem=problem,
            page=not htmx,
            status=400 if problem and not htmx else 200,
        )
    return HttpResponseRedirect(_safe_next(request, request.get_full_path()))


@login_required
@require_GET
def workspace_page(request: HttpRequest, identifier: str) -> HttpResponse:
    """Return the data manager's workspace: per site, queries by age, forms not finished,
    forms changed since the data review, subjects with unresolved checks, overdue visits."""
    study = _study(request, identifier)
    actor = _user(request)
    site = request.GET.get("site", "").strip()
    try:
        sites = selectors.workspace(actor=actor, study=study)
        review = selectors.forms_to_review(actor=actor, study=study, site=site)
    except PermissionDenied as error:
        raise Http404(str(error)) from error
    bands = [
        ("week", 0, _("up to 7 days")),
        ("month", 8, _("8 to 30 days")),
        ("quarter", 31, _("31 to 90 days")),
        ("older", 91, _("over 90 days")),
    ]
    return render(
        request,
        "quality/workspace.html",
        {
            "study": study,
            "sites": [
                {
                    "work": work,
                    "bands": [
                        (label, work.queries_by_age[name], start) for name, start, label in bands
                    ],
                }
                for work in sites
            ],
            "bands": bands,
            "review": [
                {
                    "instance": instance,
                    "url": reverse(
                        "capture:form",
                        args=[
                            study.identifier,
                            instance.subject.identifier,
                            instance.event,
                            instance.occurrence,
                            instance.form,
                        ],
                    )
                    + (f"?repeat={instance.repeat}" if instance.repeat > 1 else ""),
                }
                for instance in review
            ],
            "site": site,
        },
    )


@login_required
@require_POST
def data_review_page(
    request: HttpRequest, identifier: str, subject: str, event: str, occurrence: int, form: str
) -> HttpResponse:
    """Mark the form reviewed by the data manager at its current version."""
    study, _found, instance = _form_instance(request, identifier, subject, event, occurrence, form)
    try:
        services.data_review_mark(actor=_user(request), form_instance=instance)
    except PermissionDenied as error:
        raise Http404(str(error)) from error
    return HttpResponseRedirect(
        _safe_next(request, reverse("quality:workspace", args=[study.identifier]))
    )


@login_required
@require_http_methods(["GET", "POST"])
def settings_page(request: HttpRequest, identifier: str) -> HttpResponse:
    """Show the study's query options to those who manage the study; change them on POST
    (audited): whether a correction closes its automatic query or a person must, whether only
    the raiser closes a manual query, the sites' daily digest."""
    study = _study(request, identifier)
    actor = _user(request)
    if not may(actor, Action.MANAGE_STUDY, study=study):
        raise Http404("No such page.")
    if request.method == "POST":
        try:
            services.query_settings_set(
                actor=actor,
                study=study,
                auto_close=request.POST.get("auto_close") == "on",
                close_reserved_to_raiser=request.POST.get("close_reserved_to_raiser") == "on",
                daily_digest=request.POST.get("daily_digest") == "on",
                reason=request.POST.get("reason", ""),
            )
        except PermissionDenied as error:
            raise Http404(str(error)) from error
        except ValidationError as error:
            messages.error(request, str(error))
        else:
            messages.success(request, _("Query settings saved."))
        return HttpResponseRedirect(reverse("quality:settings", args=[study.identifier]))
    return render(
        request,
        "quality/settings.html",
        {"study": study, "settings": query_settings_of(study)},
    )
