"""Biobank exchange pages: a study's destinations, MTAs, shipments and sample requests; one
shipment (send, receipt, discrepancies, manifest CSV/PDF); the samples to destroy or return
after a withdrawal of consent; the LIMS export and import. Thin: the services decide, a refusal
is shown on the page."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from carnet.accounts.models import User
from carnet.accounts.permissions import PermissionDenied, may, person_asking
from carnet.accounts.roles import Action
from carnet.accounts.selectors import study_for_actor
from carnet.biobank.consent import sample_dispose, samples_to_dispose
from carnet.biobank.exchange import lims_export, lims_import
from carnet.biobank.models import DestinationKind, DispositionAction, SampleUse
from carnet.biobank.mta import (
    agreement_create,
    agreement_of,
    agreements_of,
    destination_create,
    destination_of,
    destinations_of,
)
from carnet.biobank.requests import (
    request_of,
    requests_of_study,
    sample_request_decide,
    sample_request_fulfil,
    sample_request_submit,
)
from carnet.biobank.shipments import (
    discrepancies,
    manifest_csv,
    manifest_pdf,
    manifest_rows,
    shipment_of_study,
    shipment_prepare,
    shipment_receive,
    shipment_send,
    shipments_of_study,
)
from carnet.core.errors import CarnetError
from carnet.core.pdf import PdfUnavailable
from carnet.studies.models import Study


def _user(request: HttpRequest) -> User:
    return person_asking(request.user)


def _study(request: HttpRequest, identifier: str, action: Action = Action.MANAGE_SAMPLES) -> Study:
    try:
        study = study_for_actor(_user(request), identifier)
    except PermissionDenied as error:
        raise Http404(str(error)) from error
    if not may(_user(request), action, study=study):
        raise Http404("No such page.")
    return study


def _back(url: str, problem: str = "", done: str = "") -> HttpResponseRedirect:
    query = {key: value for key, value in (("problem", problem), ("done", done)) if value}
    return HttpResponseRedirect(f"{url}?{urlencode(query)}" if query else url)


def _lines(text: str) -> list[str]:
    return [part for part in text.replace(",", "\n").split() if part]


def _date(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CarnetError(_("%(field)s: give a date (YYYY-MM-DD).") % {"field": field}) from None


@login_required
@require_GET
def exchange_page(request: HttpRequest, identifier: str) -> HttpResponse:
    """Return the study's destinations, MTAs, shipments and requests (members see requests)."""
    study = _study(request, identifier, Action.VIEW_STUDY)
    user = _user(request)
    manage = may(user, Action.MANAGE_SAMPLES, study=study)
    return render(
        request,
        "biobank/exchange/exchange.html",
        {
            "study": study,
            "manage": manage,
            "destinations": destinations_of(study),
            "agreements": agreements_of(study) if manage else [],
            "shipments": shipments_of_study(user, study) if manage else [],
            "requests": requests_of_study(study),
            "to_dispose": len(samples_to_dispose(user, study)) if manage else 0,
            "uses": SampleUse.choices,
            "kinds": DestinationKind.choices,
            "problem": request.GET.get("problem", ""),
            "done": request.GET.get("done", ""),
        },
    )


@login_required
@require_POST
def destination_action(request: HttpRequest, identifier: str) -> HttpResponse:
    study = _study(request, identifier)
    back = reverse("biobank:exchange", args=[identifier])
    try:
        destination_create(
            actor=_user(request),
            study=study,
            code=request.POST.get("code", ""),
            name=request.POST.get("name", ""),
            kind=request.POST.get("kind", ""),
            address=request.POST.get("address", ""),
            contact=request.POST.get("contact", ""),
        )
    except CarnetError as error:
        return _back(back, problem=str(error))
    return _back(back)


@login_required
@require_POST
def agreement_action(request: HttpRequest, identifier: str) -> HttpResponse:
    study = _study(request, identifier)
    back = reverse("biobank:exchange", args=[identifier])
    maximum = request.POST.get("maximum_samples", "").strip()
    try:
        agreement_create(
            actor=_user(request),
            study=study,
            reference=request.POST.get("reference", ""),
            destination=destination_of(study, request.POST.get("destination", "")),
            uses=request.POST.getlist("uses"),
            sample_types=_lines(request.POST.get("sample_types", "")),
            starts_on=_date(request.POST.get("starts_on", ""), "starts_on"),
            ends_on=_date(request.POST.get("ends_on", ""), "ends_on"),
            maximum_samples=int(maximum) if maximum.isdigit() else None,
        )
    except CarnetError as error:
        return _back(back, problem=str(error))
    return _back(back)


@login_required
@require_POST
def shipment_new_action(request: HttpRequest, identifier: str) -> HttpResponse:
    study = _study(request, identifier)
    back = reverse("biobank:exchange", args=[identifier])
    try:
        shipment = shipment_prepare(
            actor=_user(request),
            study=study,
            destination=destination_of(study, request.POST.get("destination", "")),
            use=request.POST.get("use", ""),
            agreement=agreement_of(study, request.POST.get("agreement", "")),
            identifiers=_lines(request.POST.get("samples", "")),
        )
    except CarnetError as error:
        return _back(back, problem=str(error))
    return _back(reverse("biobank:shipment", args=[identifier, shipment.reference]))


@login_required
@require_GET
def shipment_page(request: HttpRequest, identifier: str, reference: str) -> HttpResponse:
    """Return a shipment: its samples, its state, the receipt and its discrepancies."""
    study = _study(request, identifier)
    try:
        shipment = shipment_of_study(_user(request), study, reference)
    except PermissionDenied as error:
        raise Http404(str(error)) from error
    return render(
        request,
        "biobank/exchange/shipment.html",
        {
            "study": study,
            "shipment": shipment,
            "rows": manifest_rows(shipment),
            "discrepancies": discrepancies(shipment),
            "problem": request.GET.get("problem", ""),
        },
    )


@login_required
@require_POST
def shipment_send_action(request: HttpRequest, identifier: str, reference: str) -> HttpResponse:
    study = _study(request, identifier)
    back = reverse("biobank:shipment", args=[identifier, reference])
    try:
        shipment = shipment_of_study(_user(request), study, reference)
        shipment_send(actor=_user(request), shipment=shipment)
    except PermissionDenied as error:
        raise Http404(str(error)) from error
    except CarnetError as error:
        return _back(back, problem=str(error))
    return _back(back)


@login_required
@require_POST
def shipment_receive_action(request: HttpRequest, identifier: str, reference: str) -> HttpResponse:
    study = _study(request, identifier)
    back = reverse("biobank:shipment", args=[identifier, reference])
    listed = request.POST.get("received", "")
    upload = request.FILES.get("file")
    if upload is not None:
        listed = upload.read().decode("utf-8-sig", errors="replace")
    try:
        shipment = shipment_of_study(_user(request), study, reference)
        shipment_receive(actor=_user(request), shipment=shipment, received=listed)
    except PermissionDenied as error:
        raise Http404(str(error)) from error
    except CarnetError as error:
        return _back(back, problem=str(error))
    return _back(back)


@login_required
@require_GET
def manifest_download(
    request: HttpRequest, identifier: str, reference: str, extension: str
) -> HttpResponse:
    """Return the shipment's manifest as CSV or PDF."""
    study = _study(request, identifier)
    if extension not in {"csv", "pdf"}:
        raise Http404("No such page.")
    try:
        shipment = shipment_of_study(_user(request), study, reference)
    except PermissionDenied as error:
        raise Http404(str(error)) from error
    name = f"manifest-{study.identifier}-{shipment.reference}.{extension}"
    if extension == "csv":
        response = HttpResponse(manifest_csv(shipment), content_type="text/csv; charset=utf-8")
    else:
        try:
            response = HttpResponse(manifest_pdf(shipment), content_type="application/pdf")
        except PdfUnavailable as error:
            return HttpResponse(str(error), status=503, content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@login_required
@require_POST
def request_new_action(request: HttpRequest, identifier: str) -> HttpResponse:
    study = _study(request, identifier, Action.VIEW_STUDY)
    back = reverse("biobank:exchange", args=[identifier])
    quantity = request.POST.get("quantity", "")
    try:
        made = sample_request_submit(
            actor=_user(request),
            study=study,
            destination=destination_of(study, request.POST.get("destination", "")),
            sample_type=request.POST.get("sample_type", ""),
            quantity=int(quantity) if quantity.isdigit() else 0,
            use=request.POST.get("use", ""),
            purpose=request.POST.get("purpose", ""),
        )
    except CarnetError as error:
        return _back(back, problem=str(error))
    return _back(back, done=made.reference)


@login_required
@require_POST
def request_decide_action(request: HttpRequest, identifier: str, reference: str) -> HttpResponse:
    study = _study(request, identifier)
    back = reverse("biobank:exchange", args=[identifier])
    try:
        found = request_of(study, reference)
        if request.POST.get("samples", "").strip():
            shipment = sample_request_fulfil(
                actor=_user(request),
                request=found,
                identifiers=_lines(request.POST.get("samples", "")),
            )
            return _back(reverse("biobank:shipment", args=[identifier, shipment.reference]))
        sample_request_decide(
            actor=_user(request),
            request=found,
            approve=request.POST.get("decision") == "approve",
            reason=request.POST.get("reason", ""),
            agreement=agreement_of(study, request.POST.get("agreement", "")),
        )
    except PermissionDenied as error:
        return _back(back, problem=str(error))
    except CarnetError as error:
        return _back(back, problem=str(error))
    return _back(back)


@login_required
def withdrawals_page(request: HttpRequest, identifier: str) -> HttpResponse:
    """Return the samples to destroy or return after a withdrawal; record a decision on POST."""
    study = _study(request, identifier)
    user = _user(request)
    problem = ""
    if request.method == "POST":
        try:
            done = sample_dispose(
                actor=user,
                study=study,
                identifiers=request.POST.getlist("samples"),
                action=request.POST.get("action", ""),
                reason=request.POST.get("reason", ""),
            )
        except CarnetError as error:
            problem = str(error)
        else:
            return _back(reverse("biobank:withdrawals", args=[identifier]), done=str(len(done)))
    return render(
        request,
        "biobank/exchange/withdrawals.html",
        {
            "study": study,
            "rows": samples_to_dispose(user, study),
            "actions": DispositionAction.choices,
            "problem": problem,
            "done": request.GET.get("done", ""),
        },
        status=400 if problem else 200,
    )


@login_required
def lims_page(request: HttpRequest, identifier: str) -> HttpResponse:
    """Return the LIMS exchange: export links, and the import (with a dry run) on POST."""
    study = _study(request, identifier)
    problem, report = "", None
    if request.method == "POST":
        upload = request.FILES.get("file")
        text = upload.read().decode("utf-8-sig", errors="replace") if upload else ""
        try:
            report = lims_import(
                actor=_user(request),
                study=study,
                text=text,
                dry_run=request.POST.get("dry_run") == "on",
            )
        except CarnetError as error:
            problem = str(error)
    return render(
        request,
        "biobank/exchange/lims.html",
        {"study": study, "problem": problem, "report": report},
        status=400 if problem else 200,
    )


@login_required
@require_GET
def lims_download(request: HttpRequest, identifier: str, shape: str) -> HttpResponse:
    """Return the study's samples as the LIMS CSV (Carnet's columns or OpenSpecimen's)."""
    study = _study(request, identifier)
    if shape not in {"carnet", "openspecimen"}:
        raise Http404("No such page.")
    response = HttpResponse(
        lims_export(_user(request), study, shape=shape), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = (
        f'attachment; filename="samples-{study.identifier}-{shape}.csv"'
    )
    return response
