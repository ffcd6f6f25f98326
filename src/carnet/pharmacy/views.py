"""Pharmacy pages: a study's pharmacy per site (stock by status, kits, shipments, excursions),
a shipment with the receipt's scan box, and temperature excursions (report, decision). Thin:
the inventory decides what the person sees (unknown and forbidden are the same 404), the
services what they may do; a refusal is shown on the page. A kit's content appears only for
unblinded people."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from carnet.accounts.models import StudySite, User
from carnet.accounts.permissions import PermissionDenied, may, person_asking
from carnet.accounts.roles import Action
from carnet.accounts.selectors import study_for_actor
from carnet.core.errors import CarnetError
from carnet.pharmacy import inventory
from carnet.pharmacy.access import contents_visible, may_supply
from carnet.pharmacy.excursions import excursion_decide, excursion_report
from carnet.pharmacy.models import Excursion, ExcursionStatus, KitStatus, Shipment
from carnet.pharmacy.plan import pharmacy_plan
from carnet.pharmacy.shipments import (
    kit_numbers,
    shipment_create,
    shipment_receipt_close,
    shipment_receive_kit,
    shipment_send,
)
from carnet.studies.models import Study
from carnet.subjects.services import site_today


def status_labels() -> dict[str, str]:
    """Return how pages name each kit status, in the reader's language."""
    return {
        KitStatus.AT_DEPOT: _("at the depot"),
        KitStatus.IN_TRANSIT: _("in transit"),
        KitStatus.AVAILABLE: _("available"),
        KitStatus.QUARANTINED: _("quarantined"),
        KitStatus.ASSIGNED: _("assigned"),
        KitStatus.DISPENSED: _("dispensed"),
        KitStatus.RETURNED: _("returned"),
        KitStatus.DAMAGED: _("damaged"),
        KitStatus.MISSING: _("missing"),
        KitStatus.EXPIRED: _("expired"),
        KitStatus.DESTROYED: _("destroyed"),
    }


def _labelled(rows: list[inventory.KitRow]) -> list[dict[str, object]]:
    labels = status_labels()
    return [{"kit": row, "status": labels.get(row.status, row.status)} for row in rows]


def _counts(counts: list[tuple[str, int]]) -> list[tuple[str, str, int]]:
    labels = status_labels()
    return [(status, labels.get(status, status), count) for status, count in counts]


def _user(request: HttpRequest) -> User:
    return person_asking(request.user)


def _study(request: HttpRequest, identifier: str) -> Study:
    try:
        study = study_for_actor(_user(request), identifier)
    except PermissionDenied as error:
        raise Http404(str(error)) from error
    if inventory.stock_scope(_user(request), study).empty:
        raise Http404("No such page.")
    return study


def _site(request: HttpRequest, study: Study, code: str) -> StudySite:
    try:
        return inventory.stock_site(_user(request), study, code)
    except PermissionDenied as error:
        raise Http404(str(error)) from error


def _shipment(request: HttpRequest, study: Study, number: str) -> Shipment:
    try:
        return inventory.shipment_of(_user(request), study, number)
    except PermissionDenied as error:
        raise Http404(str(error)) from error


def _excursion(request: HttpRequest, study: Study, pk: int) -> Excursion:
    try:
        return inventory.excursion_of(_user(request), study, pk)
    except PermissionDenied as error:
        raise Http404(str(error)) from error


def _back(url: str, **query: str) -> HttpResponseRedirect:
    shown = {key: value for key, value in query.items() if value}
    return HttpResponseRedirect(url + (f"?{urlencode(shown)}" if shown else ""))


def _pharmacy_url(study: Study, site: str = "") -> str:
    url = reverse("pharmacy:pharmacy", args=[study.identifier])
    return url + (f"?{urlencode({'site': site})}" if site else "")


# --- a study's pharmacy --------------------------------------------------------------------------


@login_required
@require_GET
def pharmacy_page(request: HttpRequest, identifier: str) -> HttpResponse:
    """Return the pharmacy of one site (the first one the person sees unless ``site`` names
    another): its stock by status, kits, shipments and excursions; the depot for its managers."""
    study = _study(request, identifier)
    user = _user(request)
    sites = inventory.stock_sites(user, study)
    code = request.GET.get("site", "")
    site = _site(request, study, code) if code else (sites[0] if sites else None)
    supply = may_supply(user, study)
    depot = inventory.may_read_depot(user, study)
    unblinded = contents_visible(user, study)
    return render(
        request,
        "pharmacy/pharmacy.html",
        {
            "study": study,
            "plan": pharmacy_plan(study),
            "sites": sites,
            "site": site,
            "stock": _counts(inventory.stock_by_status(user, study, site=site)) if site else [],
            "kits": _labelled(inventory.kits_of(user, study, site=site)) if site else [],
            "by_content": (
                inventory.stock_by_content(user, study, site=site) if site and unblinded else None
            ),
            "shipments": inventory.shipments_of(user, study, site=site) if site else [],
            "excursions": inventory.excursions_of(user, study, site=site) if site else [],
            "depot_stock": (
                _counts(inventory.stock_by_status(user, study, site=None)) if depot else []
            ),
            "depot_kits": (
                _labelled(inventory.kits_of(user, study, site=None, status=KitStatus.AT_DEPOT))
                if depot
                else []
            ),
            "batches": inventory.batches_of(user, study) if depot else [],
            "unblinded": unblinded,
            "supply": supply,
            "pharmacist": site is not None and may(user, Action.DISPENSE, study=study, site=site),
            "problem": request.GET.get("problem", ""),
            "done": request.GET.get("done", ""),
        },
    )


@login_required
@require_POST
def shipment_new_action(request: HttpRequest, identifier: str) -> HttpResponse:
    """Prepare a shipment of depot kits for a site (the depot's supply managers)."""
    study = _study(request, identifier)
    site = _site(request, study, request.POST.get("site", ""))
    try:
        shipment = shipment_create(
            actor=_user(request),
            study=study,
            site=site,
            numbers=kit_numbers(request.POST.get("kits", "")),
            today=site_today(site),
        )
    except CarnetError as error:
        return _back(_pharmacy_url(study, site.code), site=site.code, problem=str(error))
    return HttpResponseRedirect(
        reverse("pharmacy:shipment", args=[study.identifier, shipment.number])
    )


# --- a shipment and its receipt -----------------------------------------------------------------


@login_required
@require_GET
def shipment_page(request: HttpRequest, identifier: str, number: str) -> HttpResponse:
    """Return a shipment, its kits, and for the site's pharmacist the receipt's scan box."""
    study = _study(request, identifier)
    shipment = _shipment(request, study, number)
    user = _user(request)
    kits = inventory.shipment_kits(user, shipment)
    return render(
        request,
        "pharmacy/shipment.html",
        {
            "study": study,
            "shipment": shipment,
            "kits": _labelled(kits),
            "waiting": sum(1 for kit in kits if kit.status == KitStatus.IN_TRANSIT),
            "unblinded": contents_visible(user, study),
            "supply": may_supply(user, study),
            "pharmacist": may(user, Action.DISPENSE, study=study, site=shipment.site),
            "problem": request.GET.get("problem", ""),
            "received": request.GET.get("received", ""),
        },
    )


def _shipment_url(study: Study, shipment: Shipment) -> str:
    return reverse("pharmacy:shipment", args=[study.identifier, shipment.number])


@login_required
@require_POST
def shipment_send_action(request: HttpRequest, identifier: str, number: str) -> HttpResponse:
    study = _study(request, identifier)
    shipment = _shipment(request, study, number)
    try:
        shipment_send(actor=_user(request), shipment=shipment)
    except CarnetError as error:
        return _back(_shipment_url(study, shipment), problem=str(error))
    return _back(_shipment_url(study, shipment))


@login_required
@require_POST
def shipment_receive_action(request: HttpRequest, identifier: str, number: str) -> HttpResponse:
    """Receive the kit scanned (or typed) in the scan box, then come back to the box."""
    study = _study(request, identifier)
    shipment = _shipment(request, study, number)
    kit = request.POST.get("kit", "").strip()
    try:
        shipment_receive_kit(
            actor=_user(request),
            shipment=shipment,
            number=kit,
            damaged=request.POST.get("damaged") == "on",
            note=request.POST.get("note", ""),
        )
    except CarnetError as error:
        return _back(_shipment_url(study, shipment), problem=str(error))
    return _back(_shipment_url(study, shipment), received=kit)


@login_required
@require_POST
def shipment_close_action(request: HttpRequest, identifier: str, number: str) -> HttpResponse:
    study = _study(request, identifier)
    shipment = _shipment(request, study, number)
    try:
        shipment_receipt_close(
            actor=_user(request),
            shipment=shipment,
            temperature_record=request.POST.get("temperature_record", ""),
            temperature_ok=request.POST.get("temperature_ok") == "yes",
        )
    except CarnetError as error:
        return _back(_shipment_url(study, shipment), problem=str(error))
    return _back(_shipment_url(study, shipment))


# --- temperature excursions ----------------------------------------------------------------------


def _decimal(text: str, field: str) -> Decimal | None:
    from carnet.core.errors import ValidationError

    text = text.strip().replace(",", ".")
    if not text:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        raise ValidationError(_("%(field)s: give a number.") % {"field": field}) from None


@login_required
def excursion_new_page(request: HttpRequest, identifier: str) -> HttpResponse:
    """Return the excursion report of a site's pharmacy and, on POST, quarantine its kits."""
    study = _study(request, identifier)
    site = _site(request, study, request.GET.get("site") or request.POST.get("site", ""))
    user = _user(request)
    problem = ""
    if request.method == "POST":
        try:
            duration = request.POST.get("duration_minutes", "").strip()
            excursion = excursion_report(
                actor=user,
                study=study,
                site=site,
                numbers=kit_numbers(request.POST.get("kits", "")),
                description=request.POST.get("description", ""),
                minimum_temperature=_decimal(
                    request.POST.get("minimum_temperature", ""), "minimum_temperature"
                ),
                maximum_temperature=_decimal(
                    request.POST.get("maximum_temperature", ""), "maximum_temperature"
                ),
                duration_minutes=int(duration) if duration.isdigit() else None,
            )
        except CarnetError as error:
            problem = str(error)
        else:
            return HttpResponseRedirect(
                reverse("pharmacy:excursion", args=[study.identifier, excursion.pk])
            )
    return render(
        request,
        "pharmacy/excursion_new.html",
        {
            "study": study,
            "site": site,
            "kits": inventory.kits_of(user, study, site=site, status=KitStatus.AVAILABLE),
            "form": request.POST,
            "problem": problem,
        },
        status=400 if problem else 200,
    )


@login_required
@require_GET
def excursion_page(request: HttpRequest, identifier: str, pk: int) -> HttpResponse:
    study = _study(request, identifier)
    excursion = _excursion(request, study, pk)
    user = _user(request)
    return render(
        request,
        "pharmacy/excursion.html",
        {
            "study": study,
            "excursion": excursion,
            "rows": inventory.excursion_kits(user, excursion),
            "unblinded": contents_visible(user, study),
            "decide": may_supply(user, study) and excursion.status == ExcursionStatus.OPEN,
            "problem": request.GET.get("problem", ""),
        },
    )


@login_required
@require_POST
def excursion_decide_action(request: HttpRequest, identifier: str, pk: int) -> HttpResponse:
    study = _study(request, identifier)
    excursion = _excursion(request, study, pk)
    url = reverse("pharmacy:excursion", args=[study.identifier, excursion.pk])
    try:
        excursion_decide(
            actor=_user(request),
            excursion=excursion,
            decision=request.POST.get("decision", ""),
            reason=request.POST.get("reason", ""),
            numbers=request.POST.getlist("kits"),
        )
    except CarnetError as error:
        return _back(url, problem=str(error))
    return _back(url)
