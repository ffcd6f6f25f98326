"""API of the biobank app. No logic here: selectors and services decide.

A sample's labels as a PDF for the label printer (the technician's script or LIMS prints them
without the page); the other endpoints are in api_collection, api_storage and api_exchange.
"""

from __future__ import annotations

from typing import Literal

from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema
from ninja.errors import HttpError

from carnet.accounts.permissions import request_user
from carnet.accounts.selectors import study_for_request
from carnet.biobank import storage
from carnet.biobank.labels import labels_pdf
from carnet.core.pdf import PdfUnavailable

router = Router(tags=["biobank"])


class BiobankLabelsQuery(Schema):
    layout: Literal["sheet", "roll"] = Field(
        "sheet", description="sheet: A4, 5 × 20 labels of 38 × 13 mm; roll: one label per page"
    )
    copies: int = Field(1, description="Labels per sample, 1 to 10")
    children: bool = Field(False, description="With the labels of its aliquots and derivatives")


@router.get(
    "/{identifier}/biobank/samples/{sample}/labels",
    summary="A sample's labels (Code 128 and QR code) as a PDF for a label printer",
    description="For the biobank technicians of the sample's site. 404 for a sample one may "
    "not see (the same answer as an unknown one); 400 for a layout or a number of copies out "
    "of bounds; 503 where the server lacks Pango.",
)
def labels_read(
    request: HttpRequest, identifier: str, sample: str, query: Query[BiobankLabelsQuery]
) -> HttpResponse:
    actor = request_user(request)
    study = study_for_request(request, identifier)
    try:
        found = storage.sample_for_actor(actor, study, sample)
    except storage.UnknownBarcode as error:
        raise HttpError(404, str(error)) from error
    samples = [found]
    if query.children:
        samples += list(found.children.order_by("identifier"))
    try:
        pdf = labels_pdf(samples, layout=query.layout, copies=query.copies)
    except PdfUnavailable as missing:
        raise HttpError(503, str(missing)) from missing
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="labels-{found.identifier}.pdf"'
    return response
