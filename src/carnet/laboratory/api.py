"""API of the laboratory app: the graded listing, the study's ranges and their load.

Values come through the same selectors as the pages: scoped to the caller's sites and masked
by the blinding policy. The load is the same audited service as `carnet lab ranges load`.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from carnet.accounts.permissions import request_user
from carnet.accounts.selectors import study_for_request
from carnet.laboratory import selectors, services
from carnet.subjects.api import ListPageOut

router = Router(tags=["laboratory"])

PER_PAGE_API = 200


class LabValueOut(Schema):
    site: str
    subject: str
    event: str
    occurrence: int
    form: str
    sampled_on: date | None
    analyte: str
    item: str
    value: str = Field(description="The value as entered; '(blinded)' for a concealed item")
    unit: str
    converted: str = Field(description="The value in the analyte's other common unit")
    converted_unit: str
    low: str = Field(description="The normal range's low limit, in the value's unit")
    high: str = Field(description="The normal range's high limit, in the value's unit")
    flag: str = Field(description="L below the range, H above, empty within or unknown")
    grade: int | None = Field(description="CTCAE v5.0 grade; null when it cannot be told")
    term: str = Field(description="The CTCAE term of a grade above 0")


class LabValuePageOut(ListPageOut):
    items: list[LabValueOut]


class LabQuery(Schema):
    page: int = Field(1, ge=1)
    per_page: int = Field(PER_PAGE_API, ge=1, le=selectors.PER_PAGE_MAX)
    site: str = Field("", description="A site code")
    subject: str = Field("", description="A subject identifier")
    analyte: str = Field("", description="An analyte (neutrophils, creatinine…)")
    grade: str = Field("", description="Only values of this CTCAE grade or above (0-4)")
    flag: str = Field("", description="L, H, or N (within the range)")


class RangeOut(Schema):
    site: str = Field(description="A site code; empty for every site")
    laboratory: str
    analyte: str
    sex: str = Field(description="M, F, or empty for both")
    age_min: int | None
    age_max: int | None
    effective_from: date
    effective_to: date | None
    unit: str
    low: float | None
    high: float | None


class LabItemOut(Schema):
    item: str
    analyte: str
    unit: str
    unit_item: str
    uln_item: str
    lln_item: str


class RangesOut(Schema):
    date_item: str
    age_item: str
    baseline_event: str
    items: list[LabItemOut]
    ranges: list[RangeOut]


class RangesIn(Schema):
    file_name: str = Field(
        description="Its name says how it is read: .csv (ranges only) or .yaml (items and ranges)"
    )
    content: str = Field(description="The file's text")


class RangesLoadedOut(Schema):
    ranges: int
    items: int
    removed_ranges: int
    sha256: str
    unchanged: bool = Field(description="The file in force was sent again: nothing changed")


@router.get(
    "/{identifier}/laboratory/values",
    response=LabValuePageOut,
    summary="Laboratory values with ranges, L/H flags and CTCAE v5.0 grades, one page",
)
def lab_value_list(request: HttpRequest, identifier: str, query: Query[LabQuery]) -> dict[str, Any]:
    study = study_for_request(request, identifier)
    filters = selectors.lab_filters(
        site=query.site,
        subject=query.subject,
        analyte=query.analyte,
        grade=query.grade,
        flag=query.flag,
    )
    found = selectors.lab_listing(
        request_user(request),
        study=study,
        filters=filters,
        page=query.page,
        per_page=query.per_page,
    )
    return {
        "items": [row.__dict__ for row in found.rows],
        "page": found.number,
        "pages": found.pages,
        "per_page": found.per_page or len(found.rows),
        "total": found.total,
        "total_is_lower_bound": found.capped,
    }


def _ranges(study: Any) -> dict[str, Any]:
    settings = selectors.lab_settings(study)
    return {
        "date_item": settings.date_item if settings else "",
        "age_item": settings.age_item if settings else "",
        "baseline_event": settings.baseline_event if settings else "",
        "items": [item.__dict__ for item in selectors.lab_items(study)],
        "ranges": [
            {
                **{
                    name: getattr(row, name)
                    for name in (
                        "laboratory",
                        "analyte",
                        "sex",
                        "age_min",
                        "age_max",
                        "effective_from",
                        "effective_to",
                        "unit",
                    )
                },
                "site": row.site.code if row.site else "",
                "low": None if row.low is None else float(row.low),
                "high": None if row.high is None else float(row.high),
            }
            for row in selectors.normal_ranges(study)
        ],
    }


@router.get(
    "/{identifier}/laboratory/ranges",
    response=RangesOut,
    summary="The study's normal ranges and the items that hold laboratory values",
)
def lab_range_list(request: HttpRequest, identifier: str) -> dict[str, Any]:
    return _ranges(study_for_request(request, identifier))


@router.put(
    "/{identifier}/laboratory/ranges",
    response=RangesLoadedOut,
    summary="Replace the study's normal ranges (and item mapping) with a file's, all or nothing",
)
def lab_ranges_load(request: HttpRequest, identifier: str, body: RangesIn) -> dict[str, Any]:
    study = study_for_request(request, identifier)
    loaded = services.lab_file_load(
        actor=request_user(request),
        study=study,
        content=body.content.encode("utf-8"),
        file_name=body.file_name,
    )
    return loaded.__dict__
