"""API of the quality app: a study's queries, raising them and moving them through their states."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.http import HttpRequest
from django.utils.translation import get_language
from ninja import Query as QueryParams
from ninja import Router, Schema

from carnet.accounts.permissions import request_user
from carnet.accounts.selectors import study_for_request
from carnet.core.errors import ValidationError
from carnet.quality import selectors, services
from carnet.quality.models import Query
from carnet.subjects.selectors import subject_for_actor

router = Router(tags=["quality"])

# Protocol deviations (their own module; the register, declarations, reviews, per protocol).
from carnet.quality.api_deviations import router as deviations_router  # noqa: E402

router.add_router("", deviations_router)
QUERY_PATH = "/{identifier}/queries/{query_id}"
PAGE_LIMIT = 500


class QueryOut(Schema):
    """A query: where it is (site, subject, visit, form, item and row), its kind (automatic from
    an edit check, or manual), state (open, answered, closed, cancelled), how it was settled,
    the question, the item's current value as the caller may see it, who raised it, and how
    many days it has been open (until it closed)."""

    id: int
    site: str
    subject: str
    event: str
    occurrence: int | None
    form: str
    item: str
    row: int
    kind: str
    scope: str
    state: str
    resolution: str
    text: str
    value: str
    raised_by: str
    opened_at: datetime
    days_open: int


class MessageOut(Schema):
    kind: str
    text: str
    author: str
    state: str
    at: datetime


class QueryDetailOut(QueryOut):
    messages: list[MessageOut]


class QueryPage(Schema):
    count: int
    results: list[QueryOut]


class QueryFilterIn(Schema):
    site: str = ""
    subject: str = ""
    form: str = ""
    state: str = ""
    kind: str = ""
    raised_by: str = ""
    min_days: int | None = None
    offset: int = 0
    limit: int = 100


class QueryRaiseIn(Schema):
    """A manual query: on the subject, on a visit (event and occurrence), on a form (add form
    and repeat) or on an item (add item, and row for an item of a repeating group)."""

    subject: str
    text: str
    event: str = ""
    occurrence: int = 1
    form: str = ""
    repeat: int = 1
    item: str = ""
    row: int = 0


class QueryTextIn(Schema):
    text: str = ""


def _language() -> str:
    return "fr" if (get_language() or "en").startswith("fr") else "en"


def _row_out(request: HttpRequest, query: Query) -> dict[str, Any]:
    study = query.study
    return selectors.query_rows(
        actor=request_user(request), study=study, queries=[query], language=_language()
    )[0]


@router.get(
    "/{identifier}/queries",
    response=QueryPage,
    summary="A study's queries at the sites the caller covers, filtered and paged",
    description=(
        "`state` is open, answered, closed, cancelled or active (open or answered); `min_days` "
        "keeps the queries waiting for at least that many days."
    ),
)
def queries_list(
    request: HttpRequest, identifier: str, filters: QueryParams[QueryFilterIn]
) -> dict[str, Any]:
    study = study_for_request(request, identifier)
    actor = request_user(request)
    found = selectors.queries_list(
        actor=actor,
        study=study,
        filters=selectors.QueryFilters(
            site=filters.site,
            subject=filters.subject,
            form=filters.form,
            state=filters.state,
            kind=filters.kind,
            raised_by=filters.raised_by,
            min_days=filters.min_days,
        ),
    )
    limit = max(1, min(filters.limit, PAGE_LIMIT))
    offset = max(0, filters.offset)
    page = list(found[offset : offset + limit])
    return {
        "count": found.count(),
        "results": selectors.query_rows(
            actor=actor, study=study, queries=page, language=_language()
        ),
    }


# Before the routes of one query: `settings` is not a query's number.
class QuerySettingsOut(Schema):
    """A study's query options: whether a correction that clears a check closes its automatic
    query (`auto_close`; off, a person closes it), whether only the raiser of a manual query
    may close it, and whether the sites receive a daily digest of their open queries."""

    auto_close: bool
    close_reserved_to_raiser: bool
    daily_digest: bool


class QuerySettingsIn(Schema):
    """The options to change (those left out keep their value) and why, for the audit trail."""

    reason: str
    auto_close: bool | None = None
    close_reserved_to_raiser: bool | None = None
    daily_digest: bool | None = None


def _settings_out(found: Any) -> QuerySettingsOut:
    return QuerySettingsOut(
        auto_close=found.auto_close,
        close_reserved_to_raiser=found.close_reserved_to_raiser,
        daily_digest=found.daily_digest,
    )


@router.get(
    "/{identifier}/queries/settings",
    response=QuerySettingsOut,
    summary="The study's query options (who closes queries, the sites' daily digest)",
)
def query_settings_read(request: HttpRequest, identifier: str) -> QuerySettingsOut:
    study = study_for_request(request, identifier)
    return _settings_out(selectors.query_settings(study=study))


@router.put(
    "/{identifier}/queries/settings",
    response=QuerySettingsOut,
    summary="Change the study's query options (whoever manages the whole study), with a reason",
)
def query_settings_change(
    request: HttpRequest, identifier: str, payload: QuerySettingsIn
) -> QuerySettingsOut:
    study = study_for_request(request, identifier)
    return _settings_out(
        services.query_settings_set(actor=request_user(request), study=study, **payload.dict())
    )


@router.get(QUERY_PATH, response=QueryDetailOut, summary="One query and its thread of messages")
def query_read(request: HttpRequest, identifier: str, query_id: int) -> dict[str, Any]:
    study = study_for_request(request, identifier)
    query = selectors.query_get(actor=request_user(request), study=study, pk=query_id)
    return _detail(request, query)


def _detail(request: HttpRequest, query: Query) -> dict[str, Any]:
    out = _row_out(request, query)
    out["messages"] = [
        {
            "kind": m.kind,
            "text": m.text,
            "author": m.author_label,
            "state": m.state,
            "at": m.created_at,
        }
        for m in selectors.query_thread(query=query)
    ]
    return out


@router.post(
    "/{identifier}/queries",
    response={201: QueryDetailOut},
    summary="Raise a manual query (monitors, data managers, medical reviewers)",
)
def query_raise(
    request: HttpRequest, identifier: str, payload: QueryRaiseIn
) -> tuple[int, dict[str, Any]]:
    study = study_for_request(request, identifier)
    actor = request_user(request)
    subject = subject_for_actor(actor, study=study, identifier=payload.subject)
    form_instance = None
    if payload.form:
        form_instance = selectors.form_instance_find(
            subject=subject,
            event=payload.event,
            occurrence=payload.occurrence,
            form=payload.form,
            repeat=payload.repeat,
        )
        if form_instance is None:
            raise ValidationError("This form holds no data yet: raise the query on the visit.")
    query = services.query_raise(
        actor=actor,
        subject=subject,
        text=payload.text,
        form_instance=form_instance,
        event=payload.event,
        occurrence=payload.occurrence if payload.event else None,
        item=payload.item,
        row=payload.row,
    )
    return 201, _detail(request, selectors.query_get(actor=actor, study=study, pk=query.pk))


def _change(
    request: HttpRequest,
    identifier: str,
    query_id: int,
    text: str,
    service: Callable[..., Query],
) -> dict[str, Any]:
    study = study_for_request(request, identifier)
    actor = request_user(request)
    query = selectors.query_get(actor=actor, study=study, pk=query_id)
    service(actor=actor, query=query, text=text)
    return _detail(request, selectors.query_get(actor=actor, study=study, pk=query_id))


@router.post(QUERY_PATH + "/answer", response=QueryDetailOut, summary="Answer a query (the site)")
def query_answer(
    request: HttpRequest, identifier: str, query_id: int, payload: QueryTextIn
) -> dict[str, Any]:
    return _change(request, identifier, query_id, payload.text, services.query_answer)


@router.post(
    QUERY_PATH + "/confirm",
    response=QueryDetailOut,
    summary="Confirm the values an edit check questions are correct (the site), with a reason",
)
def query_confirm(
    request: HttpRequest, identifier: str, query_id: int, payload: QueryTextIn
) -> dict[str, Any]:
    return _change(request, identifier, query_id, payload.text, services.query_confirm)


@router.post(
    QUERY_PATH + "/close",
    response=QueryDetailOut,
    summary="Close a query (its raiser or a data manager)",
)
def query_close(
    request: HttpRequest, identifier: str, query_id: int, payload: QueryTextIn
) -> dict[str, Any]:
    return _change(request, identifier, query_id, payload.text, services.query_close)


@router.post(
    QUERY_PATH + "/reopen",
    response=QueryDetailOut,
    summary="Re-open a closed query, with a reason",
)
def query_reopen(
    request: HttpRequest, identifier: str, query_id: int, payload: QueryTextIn
) -> dict[str, Any]:
    return _change(request, identifier, query_id, payload.text, services.query_reopen)


@router.post(
    QUERY_PATH + "/cancel",
    response=QueryDetailOut,
    summary="Cancel a query raised in error, with a reason",
)
def query_cancel(
    request: HttpRequest, identifier: str, query_id: int, payload: QueryTextIn
) -> dict[str, Any]:
    return _change(request, identifier, query_id, payload.text, services.query_cancel)
