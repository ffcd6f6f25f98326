"""Laboratory pages: the graded listing of a study or a subject (and its CSV), the ranges.

Thin: the selectors read, scope and mask; a study or subject the person may not see is a 404.
"""

from __future__ import annotations

import csv
import io
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from carnet.accounts.permissions import PermissionDenied, person_asking
from carnet.accounts.selectors import sites_visible, study_for_actor
from carnet.core.ctcae import TERMS
from carnet.core.errors import ValidationError
from carnet.laboratory import selectors
from carnet.studies.models import Study
from carnet.subjects.selectors import PER_PAGE, subject_for_actor

FILTERS = ("site", "analyte", "grade", "flag")


def _study(request: HttpRequest, identifier: str) -> Study:
    try:
        return study_for_actor(person_asking(request.user), identifier)
    except PermissionDenied as error:
        raise Http404(str(error)) from error


def _page_number(request: HttpRequest) -> int:
    try:
        return max(1, int(request.GET.get("page", "1")))
    except ValueError:
        return 1


def _asked(request: HttpRequest) -> dict[str, str]:
    return {name: request.GET.get(name, "").strip() for name in FILTERS}


def _links(asked: dict[str, str], page: selectors.ListPage[Any]) -> dict[str, Any]:
    """Return the pager's links, keeping the filters."""
    kept = {name: value for name, value in asked.items() if value}

    def link(number: int) -> str:
        return "?" + urlencode({**kept, "page": number})

    return {
        "page": page,
        "first": link(1) if page.number > 1 else "",
        "previous": link(page.number - 1) if page.has_previous else "",
        "next": link(page.number + 1) if page.has_next else "",
        "last": link(page.pages) if page.number < page.pages else "",
    }


def _listing(request: HttpRequest, study: Study, *, subject: str = "") -> HttpResponse:
    user = person_asking(request.user)
    asked = _asked(request)
    error = ""
    try:
        filters = selectors.lab_filters(subject=subject, **asked)
        found = selectors.lab_listing(
            user, study=study, filters=filters, page=_page_number(request), per_page=PER_PAGE
        )
    except ValidationError as refused:
        error = str(refused)
        found = selectors.ListPage(rows=[], total=0, number=1, per_page=PER_PAGE)
    except PermissionDenied as refused:
        raise Http404(str(refused)) from refused
    kept = {name: value for name, value in asked.items() if value}
    return render(
        request,
        "laboratory/listing.html",
        {
            "study": study,
            "subject": subject,
            "asked": asked,
            "error": error,
            "rows": found.rows,
            "list": _links(asked, found),
            "sites": sites_visible(user, study=study),
            "analytes": sorted({item.analyte for item in selectors.lab_items(study)}),
            "grades": ["1", "2", "3", "4"],
            "csv_query": urlencode(kept),
        },
        status=400 if error else 200,
    )


@login_required
@require_GET
def listing_page(request: HttpRequest, identifier: str) -> HttpResponse:
    """Show the study's laboratory values with ranges, flags and CTCAE grades, one page."""
    return _listing(request, _study(request, identifier))


@login_required
@require_GET
def subject_listing_page(request: HttpRequest, identifier: str, subject: str) -> HttpResponse:
    """Show one subject's laboratory values."""
    study = _study(request, identifier)
    try:
        found = subject_for_actor(person_asking(request.user), study=study, identifier=subject)
    except PermissionDenied as error:
        raise Http404(str(error)) from error
    return _listing(request, study, subject=found.identifier)


@login_required
@require_GET
def listing_csv(request: HttpRequest, identifier: str) -> HttpResponse:
    """Return the whole listing, as filtered, as CSV."""
    study = _study(request, identifier)
    user = person_asking(request.user)
    try:
        filters = selectors.lab_filters(
            subject=request.GET.get("subject", "").strip(), **_asked(request)
        )
        found = selectors.lab_listing(user, study=study, filters=filters, per_page=None)
    except ValidationError as refused:
        return HttpResponse(str(refused), status=400, content_type="text/plain; charset=utf-8")
    except PermissionDenied as refused:
        raise Http404(str(refused)) from refused
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(selectors.CSV_HEADER)
    writer.writerows(selectors.csv_line(row) for row in found.rows)
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{study.identifier}-laboratory.csv"'
    return response


@login_required
@require_GET
def ranges_page(request: HttpRequest, identifier: str) -> HttpResponse:
    """Show the study's normal ranges, item mapping and the CTCAE terms graded."""
    study = _study(request, identifier)
    return render(
        request,
        "laboratory/ranges.html",
        {
            "study": study,
            "ranges": selectors.normal_ranges(study),
            "items": selectors.lab_items(study),
            "settings": selectors.lab_settings(study),
            "terms": TERMS,
        },
    )
