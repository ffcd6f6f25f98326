"""API of protocol deviations: the register, a subject's deviations, declaring and reviewing
them, and the per-protocol population. No logic here: selectors and services decide."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema
from ninja.responses import Status

from carnet.accounts.permissions import request_user
from carnet.accounts.selectors import study_for_request
from carnet.quality import deviation_selectors as selectors
from carnet.quality.deviations import deviation_declare, deviation_review
from carnet.subjects.selectors import PER_PAGE_MAX, subject_for_actor

PER_PAGE_API = 100

router = Router(tags=["deviations"])


class DeviationOut(Schema):
    number: int = Field(description="The deviation's number in Carnet")
    subject: str
    site: str
    origin: str = Field(description="derived (a deviation check fired) or declared")
    event: str = Field(description="Derived: the event of the form; empty when declared")
    form: str = Field(description="Derived: the form whose check fired; empty when declared")
    check_name: str = Field(description="Derived: the study's check; empty when declared")
    description: str = Field(
        description="In the reader's language; '(blinded)' when it may reveal the arm"
    )
    occurred_on: date
    deviation_class: str = Field(description="major or minor")
    category: str
    status: str = Field(description="pending, confirmed or rejected (the data manager's review)")
    resolved: bool = Field(description="Derived: its check no longer fires (it is kept)")
    declared_by: str
    reviewed_by: str
    reviewed_at: datetime | None
    review_reason: str


class DeviationPageOut(Schema):
    items: list[DeviationOut]
    page: int
    pages: int
    per_page: int
    total: int


class DeviationFilters(Schema):
    page: int = Field(1, ge=1)
    per_page: int = Field(PER_PAGE_API, ge=1, le=PER_PAGE_MAX)
    site: str = Field("", description="A site's code")
    subject: str = Field("", description="A subject's identifier")
    deviation_class: str = Field("", description="major or minor")
    category: str = ""
    status: str = Field("", description="pending, confirmed, rejected, resolved or unresolved")


class DeclarationIn(Schema):
    description: str
    occurred_on: date
    deviation_class: str = Field(description="major or minor")
    category: str = Field(description="A category of the study (standard or its own)")


class ReviewIn(Schema):
    decision: str = Field(description="confirmed or rejected")
    reason: str = Field("", description="Required to reject, or to change class or category")
    deviation_class: str | None = None
    category: str | None = None


class PerProtocolOut(Schema):
    basis: str = Field(description="randomised, or included in a study without randomisation")
    size: int
    subjects: list[str]
    excluded: list[str] = Field(description="Taken out by a confirmed major deviation")
    pending_major: int = Field(description="Major deviations awaiting review")


@router.get(
    "/{identifier}/deviations",
    response=DeviationPageOut,
    summary="The study's protocol deviations I may see, filtered, one page",
)
def deviation_list(
    request: HttpRequest, identifier: str, filters: Query[DeviationFilters]
) -> dict[str, Any]:
    study = study_for_request(request, identifier)
    found = selectors.deviation_list(
        request_user(request),
        study=study,
        site=filters.site,
        subject=filters.subject,
        deviation_class=filters.deviation_class,
        category=filters.category,
        status=filters.status,
        page=filters.page,
        per_page=filters.per_page,
    )
    return {
        "items": [selectors.deviation_record(row) for row in found],
        "page": found.number,
        "pages": found.pages,
        "per_page": found.per_page or len(found.rows),
        "total": found.total,
    }


@router.get(
    "/{identifier}/deviations/per-protocol",
    response=PerProtocolOut,
    summary="The per-protocol population: subjects without a confirmed major deviation",
)
def per_protocol(request: HttpRequest, identifier: str) -> dict[str, Any]:
    study = study_for_request(request, identifier)
    population = selectors.per_protocol_population(study=study, actor=request_user(request))
    return {
        "basis": population.basis,
        "size": population.size,
        "subjects": population.subjects,
        "excluded": population.excluded,
        "pending_major": population.pending_major,
    }


@router.post(
    "/{identifier}/subjects/{subject}/deviations",
    response={201: DeviationOut},
    summary="Declare a protocol deviation of a subject",
)
def deviation_declare_endpoint(
    request: HttpRequest, identifier: str, subject: str, payload: DeclarationIn
) -> Status[dict[str, Any]]:
    study = study_for_request(request, identifier)
    actor = request_user(request)
    found = subject_for_actor(actor, study=study, identifier=subject)
    deviation = deviation_declare(
        actor=actor,
        subject=found,
        description=payload.description,
        occurred_on=payload.occurred_on,
        deviation_class=payload.deviation_class,
        category=payload.category,
    )
    row = selectors.deviation_row(actor, study=study, deviation=deviation)
    return Status(201, selectors.deviation_record(row))


@router.post(
    "/{identifier}/deviations/{number}/review",
    response=DeviationOut,
    summary="Review a deviation: confirm it (class and category) or reject it with a reason",
)
def deviation_review_endpoint(
    request: HttpRequest, identifier: str, number: int, payload: ReviewIn
) -> dict[str, Any]:
    study = study_for_request(request, identifier)
    actor = request_user(request)
    deviation = selectors.deviation_for_actor(actor, study=study, pk=number)
    reviewed = deviation_review(
        actor=actor,
        deviation=deviation,
        decision=payload.decision,
        reason=payload.reason,
        deviation_class=payload.deviation_class,
        category=payload.category,
    )
    reviewed = selectors.deviation_for_actor(actor, study=study, pk=reviewed.pk)
    return selectors.deviation_record(
        selectors.deviation_row(actor, study=study, deviation=reviewed)
    )
