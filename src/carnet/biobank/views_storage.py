"""Biobank storage pages: the freezers of the study's centres with their capacity, a freezer
(racks, boxes, its samples paged, a failure), a box map, the scan box, and a sample's page
(where it is, its moves, put away / move / take out, aliquot, derive, labels as PDF). Thin:
biobank.storage and biobank.aliquots decide; a refusal is shown on the page it came from."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote, urlencode

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from carnet.accounts.models import User
from carnet.accounts.permissions import PermissionDenied, person_asking
from carnet.accounts.selectors import study_for_actor
from carnet.biobank import storage
from carnet.biobank.aliquots import sample_aliquot, sample_derive
from carnet.biobank.labels import LAYOUTS, labels_pdf
from carnet.biobank.models import Sample
from carnet.core.errors import CarnetError, ValidationError
from carnet.core.pdf import PdfUnavailable
from carnet.studies.models import Study


def _user(request: HttpRequest) -> User:
    return person_asking(request.user)


def _study(request: HttpRequest, identifier: str) -> Study:
    """Return the study if the person handles samples in it; otherwise no such page."""
    try:
        study = study_for_actor(_user(request), identifier)
        storage.require_samples(_user(request), study)
    except PermissionDenied as error:
        raise Http404(str(error)) from error
    return study


def _sample(request: HttpRequest, study: Study, identifier: str) -> Sample:
    try:
        return storage.sample_for_actor(_user(request), study, identifier)
    except PermissionDenied as error:
        raise Http404(str(error)) from error


def _back_with(back: str, problem: str) -> HttpResponseRedirect:
    joiner = "&" if "?" in back else "?"
    return HttpResponseRedirect(f"{back}{joiner}{urlencode({'problem': problem})}")


def _int(text: str | None) -> int | None:
    return int(text) if text and text.strip().isdigit() else None


def _url(name: str, study: Study, *args: object) -> str:
    return reverse(f"biobank:{name}", args=[study.identifier, *args])


# A value no argument takes: the URL reversed with it is split around it.
_MARKER = 987654321


def _links(name: str, study: Study) -> Callable[[object], str]:
    """Return a function giving the URL of ``name`` for one more argument, reversed once: a
    freezer's page has some 350 links, and reversing each was a third of the page's time."""
    before, after = _url(name, study, _MARKER).rsplit(str(_MARKER), 1)
    # What reverse() leaves unquoted in a path segment (RFC 3986's sub-delimiters, ~ : @).
    return lambda value: before + quote(str(value), safe="!$&'()*+,;=~:@") + after


# --- pages ---------------------------------------------------------------------------------------


@login_required
@require_GET
def storage_page(request: HttpRequest, identifier: str) -> HttpResponse:
    """Return the freezers the person may use, with their capacity, and the scan box."""
    study = _study(request, identifier)
    user = _user(request)
    return render(
        request,
        "biobank/storage/storage.html",
        {
            "study": study,
            "freezers": storage.freezers_for_actor(user, study),
            "centres": list(storage.centres_of(user, study).order_by("code")),
            "problem": request.GET.get("problem", ""),
        },
    )


@login_required
@require_GET
def scan_page(request: HttpRequest, identifier: str) -> HttpResponse:
    """Return the scan box; a scanned (or typed) code opens its sample's page."""
    study = _study(request, identifier)
    code = request.GET.get("code", "")
    problem = ""
    if code.strip():
        try:
            found = storage.sample_scan(_user(request), study, code)
        except storage.UnknownBarcode as error:
            problem = str(error)
        else:
            return HttpResponseRedirect(_url("sample_storage", study, found.sample.identifier))
    response = render(
        request, "biobank/storage/scan.html", {"study": study, "code": code, "problem": problem}
    )
    if problem:
        response.status_code = 404
    return response


@login_required
@require_GET
def sample_page(request: HttpRequest, identifier: str, sample: str) -> HttpResponse:
    """Return a sample: where it is, its moves, its family, and what can be done with it."""
    study = _study(request, identifier)
    user = _user(request)
    found = _sample(request, study, sample)
    boxes = storage.boxes_with_space(user, study)
    return render(
        request,
        "biobank/storage/sample.html",
        {
            "study": study,
            "sample": found,
            "place": storage.sample_place(found),
            "children": list(found.children.order_by("identifier")),
            "movements": list(storage.sample_movements(user, found)),
            "boxes": boxes,
            "layouts": LAYOUTS,
            "problem": request.GET.get("problem", ""),
        },
    )


@login_required
@require_GET
def sample_labels(request: HttpRequest, identifier: str, sample: str) -> HttpResponse:
    """Return the labels of a sample (and of its children with ?children=1) as a PDF."""
    study = _study(request, identifier)
    found = _sample(request, study, sample)
    samples = [found]
    if request.GET.get("children"):
        samples += list(found.children.order_by("identifier"))
    layout = request.GET.get("layout", "sheet")
    try:
        pdf = labels_pdf(samples, layout=layout, copies=_int(request.GET.get("copies")) or 1)
    except (ValidationError, PdfUnavailable) as error:
        return _back_with(_url("sample_storage", study, found.identifier), str(error))
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="labels-{found.identifier}.pdf"'
    return response


@login_required
@require_GET
def freezer_page(request: HttpRequest, identifier: str, pk: int) -> HttpResponse:
    """Return a freezer: its capacity, racks and boxes, and the study's samples in it (paged)."""
    study = _study(request, identifier)
    user = _user(request)
    try:
        freezer = storage.freezer_for_actor(user, study, pk)
    except PermissionDenied as error:
        raise Http404(str(error)) from error
    content = storage.freezer_content(user, study, freezer, page=_int(request.GET.get("page")) or 1)
    others = storage.freezers_in_service(user, study, besides=freezer)
    sample_link, box_link = _links("sample_storage", study), _links("box", study)
    box_new_link = _links("box_new", study)
    return render(
        request,
        "biobank/storage/freezer.html",
        {
            "study": study,
            "use": storage.freezer_use(freezer),
            "freezer": freezer,
            "racks": [
                (
                    rack,
                    box_new_link(rack.pk),
                    [(box, used, box_link(box.pk)) for box, used in boxes],
                )
                for rack, boxes in storage.freezer_boxes(freezer)
            ],
            "content": content,
            "rows": [(s, sample_link(s.identifier), box_link(s.box_id)) for s in content.samples],
            "others": others,
            "problem": request.GET.get("problem", ""),
        },
    )


@login_required
@require_GET
def box_page(request: HttpRequest, identifier: str, pk: int) -> HttpResponse:
    """Return a box map: its grid with the identifiers of the samples and the free positions."""
    study = _study(request, identifier)
    user = _user(request)
    try:
        box = storage.box_for_actor(user, study, pk)
    except PermissionDenied as error:
        raise Http404(str(error)) from error
    return render(
        request,
        "biobank/storage/box.html",
        {"study": study, "box": box, "map": storage.box_map(user, study, box)},
    )


# --- actions -------------------------------------------------------------------------------------


@login_required
@require_POST
def freezer_new_action(request: HttpRequest, identifier: str) -> HttpResponse:
    """Add a freezer at one of the centres the person handles samples for."""
    study = _study(request, identifier)
    user = _user(request)
    back = _url("storage", study)
    centre = storage.centres_of(user, study).filter(code=request.POST.get("centre", "")).first()
    if centre is None:
        return _back_with(back, _("centre: choose one of your centres."))
    temperature = request.POST.get("temperature", "").strip()
    try:
        if not temperature.lstrip("-").isdigit():
            raise ValidationError(_("temperature: give a whole number of °C, e.g. -80."))
        freezer = storage.freezer_create(
            actor=user,
            study=study,
            centre=centre,
            name=request.POST.get("name", ""),
            temperature=int(temperature),
            location=request.POST.get("location", ""),
        )
    except CarnetError as error:
        return _back_with(back, str(error))
    return HttpResponseRedirect(_url("freezer", study, freezer.pk))


@login_required
@require_POST
def rack_new_action(request: HttpRequest, identifier: str, pk: int) -> HttpResponse:
    """Add a rack to a freezer."""
    study = _study(request, identifier)
    user = _user(request)
    back = _url("freezer", study, pk)
    try:
        freezer = storage.freezer_for_actor(user, study, pk)
        storage.rack_create(
            actor=user, study=study, freezer=freezer, name=request.POST.get("name", "")
        )
    except PermissionDenied as error:
        raise Http404(str(error)) from error
    except CarnetError as error:
        return _back_with(back, str(error))
    return HttpResponseRedirect(back)


@login_required
@require_POST
def box_new_action(request: HttpRequest, identifier: str, pk: int) -> HttpResponse:
    """Add a box of rows × columns to a rack."""
    study = _study(request, identifier)
    user = _user(request)
    try:
        rack = storage.rack_for_actor(user, study, pk)
    except PermissionDenied as error:
        raise Http404(str(error)) from error
    back = _url("freezer", study, rack.freezer_id)
    try:
        storage.box_create(
            actor=user,
            study=study,
            rack=rack,
            name=request.POST.get("name", ""),
            rows=_int(request.POST.get("rows")) or 0,
            columns=_int(request.POST.get("columns")) or 0,
        )
    except CarnetError as error:
        return _back_with(back, str(error))
    return HttpResponseRedirect(back)


@login_required
@require_POST
def failure_action(request: HttpRequest, identifier: str, pk: int) -> HttpResponse:
    """Record a freezer's failure: every sample it holds moves to the freezer chosen."""
    study = _study(request, identifier)
    user = _user(request)
    back = _url("freezer", study, pk)
    try:
        freezer = storage.freezer_for_actor(user, study, pk)
    except PermissionDenied as error:
        raise Http404(str(error)) from error
    try:
        target = storage.freezer_for_actor(user, study, _int(request.POST.get("moved_to")) or 0)
        failure = storage.freezer_failure_record(
            actor=user,
            study=study,
            freezer=freezer,
            moved_to=target,
            reason=request.POST.get("reason", ""),
        )
    except CarnetError as error:
        return _back_with(back, str(error))
    return HttpResponseRedirect(_url("freezer", study, failure.moved_to_id))


SAMPLE_ACTIONS = ("store", "move", "take-out", "aliquot", "derive")


@login_required
@require_POST
def sample_action(request: HttpRequest, identifier: str, sample: str, action: str) -> HttpResponse:
    """Put away, move, take out, aliquot or derive a sample; back to its page."""
    if action not in SAMPLE_ACTIONS:
        raise Http404("No such action.")
    study = _study(request, identifier)
    user = _user(request)
    found = _sample(request, study, sample)
    back = _url("sample_storage", study, found.identifier)
    data = request.POST
    try:
        if action in {"store", "move"}:
            box = storage.box_given(user, study, _int(data.get("box")))
            position = data.get("position", "").strip() or None
            if action == "store":
                storage.sample_store(actor=user, sample=found, box=box, position=position)
            else:
                storage.sample_move(
                    actor=user,
                    sample=found,
                    box=box,
                    position=position,
                    reason=data.get("reason", ""),
                )
        elif action == "take-out":
            storage.sample_take_out(actor=user, sample=found, reason=data.get("reason", ""))
        elif action == "aliquot":
            volumes = [v for v in data.get("volumes", "").replace(";", " ").split() if v]
            sample_aliquot(
                actor=user, sample=found, volumes=volumes, container=data.get("container", "")
            )
        else:
            sample_derive(
                actor=user,
                sample=found,
                sample_type=data.get("sample_type", ""),
                count=_int(data.get("count")) or 1,
                volume_used=data.get("volume_used") or None,
                quantity=data.get("quantity") or None,
                unit=data.get("unit", ""),
            )
    except CarnetError as error:
        return _back_with(back, str(error))
    return HttpResponseRedirect(back)
