"""Pharmacy pages of dispensing: the pharmacist's dispensing page (kits awaiting dispensing,
assignment for a visit, dispensing, replacement, returns, destruction), the accountability page
and its printable log (PDF), and the resupply list. Thin: selectors decide what the person sees
(unknown and forbidden are the same 404), services what they may do; a refusal is shown."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from carnet.accounts.models import User
from carnet.accounts.permissions import PermissionDenied, person_asking
from carnet.accounts.roles import Action
from carnet.accounts.selectors import study_for_actor
from carnet.core.errors import CarnetError, ValidationError
from carnet.core.pdf import PdfUnavailable, html_to_pdf
from carnet.pharmacy import selectors_dispensing as selectors
from carnet.pharmacy.assignment import visit_kits_assign
from carnet.pharmacy.dispensing import kit_dispense, kit_replace, kit_return, kits_destroy
from carnet.pharmacy.resupply import resupply_propose
from carnet.studies.models import Study
from carnet.subjects.selectors import subject_for_actor


def _user(request: HttpRequest) -> User:
    return person_asking(request.user)


def _study(request: HttpRequest, identifier: str, actions: tuple[Action, ...]) -> Study:
    try:
        study = study_for_actor(_user(request), identifier)
        selectors.pharmacy_sites(_user(request), study, actions=actions)
    except PermissionDenied as error:
        raise Http404(str(error)) from error
    return study


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError(_("date: give a date (YYYY-MM-DD).")) from None


def _quantity(text: str) -> Decimal | None:
    if not text.strip():
        return None
    try:
        return Decimal(text.strip())
    except InvalidOperation:
        raise ValidationError(_("quantity: give a number.")) from None


def _assign(user: User, study: Study, post: QueryDict) -> str:
    subject = subject_for_actor(user, study=study, identifier=post.get("subject", "").strip())
    kits = visit_kits_assign(
        actor=user,
        subject=subject,
        event=post.get("event", "").strip(),
        occurrence=int(post.get("occurrence") or 1),
    )
    return _("Kit(s) %(kits)s assigned.") % {"kits": ", ".join(k.number for k in kits)}


def _dispense(user: User, study: Study, post: QueryDict) -> str:
    kit_dispense(
        actor=user,
        study=study,
        site=selectors.study_site(study, post.get("site", "")),
        number=post.get("kit", ""),
        on=_day(post.get("on", "")),
        dispensed_to=post.get("dispensed_to", ""),
        quantity=_quantity(post.get("quantity", "")),
    )
    return _("Kit %(kit)s dispensed.") % {"kit": post.get("kit", "").strip()}


def _replace(user: User, study: Study, post: QueryDict) -> str:
    new = kit_replace(
        actor=user,
        study=study,
        site=selectors.study_site(study, post.get("site", "")),
        number=post.get("kit", ""),
        reason=post.get("reason", ""),
    )
    return _("Kit %(kit)s replaced by kit %(new)s.") % {
        "kit": post.get("kit", "").strip(),
        "new": new.number,
    }


def _return(user: User, study: Study, post: QueryDict) -> str:
    kit_return(
        actor=user,
        study=study,
        site=selectors.study_site(study, post.get("site", "")),
        number=post.get("kit", ""),
        on=_day(post.get("on", "")),
        quantity=_quantity(post.get("quantity", "")) or 0,
        note=post.get("note", ""),
    )
    return _("Kit %(kit)s returned.") % {"kit": post.get("kit", "").strip()}


def _destroy(user: User, study: Study, post: QueryDict) -> str:
    destroyed = kits_destroy(
        actor=user,
        study=study,
        site=selectors.study_site(study, post.get("site", "")),
        numbers=[n for n in post.get("kits", "").replace(",", " ").split() if n],
        on=_day(post.get("on", "")),
        witness=post.get("witness", ""),
        certificate=post.get("certificate", ""),
    )
    return _("%(count)s kit(s) destroyed.") % {"count": len(destroyed)}


_ACTIONS: dict[str, Callable[[User, Study, QueryDict], str]] = {
    "assign": _assign,
    "dispense": _dispense,
    "replace": _replace,
    "return": _return,
    "destroy": _destroy,
}


@login_required
def dispensing_page(request: HttpRequest, identifier: str) -> HttpResponse:
    """Return the pharmacist's dispensing page; on POST, assign, dispense, replace, take back
    or destroy kits (audited). Kit numbers only: never what a kit holds."""
    study = _study(request, identifier, (Action.DISPENSE,))
    user = _user(request)
    problem, done = "", ""
    if request.method == "POST":
        try:
            action = _ACTIONS.get(request.POST.get("action", ""))
            if action is None:
                raise ValidationError(_("action: unknown action."))
            done = action(user, study, request.POST)
        except CarnetError as error:
            problem = str(error)
    context: dict[str, Any] = {
        "study": study,
        "sites": selectors.pharmacy_sites(user, study, actions=(Action.DISPENSE,)),
        "awaiting": selectors.kits_awaiting(user, study),
        "recent": selectors.dispensings_recent(user, study),
        "today": date.today(),
        "problem": problem,
        "done": done,
    }
    return render(request, "pharmacy/dispensing.html", context, status=400 if problem else 200)


def _accountability_context(request: HttpRequest, study: Study) -> dict[str, Any]:
    site = request.GET.get("site", "")
    try:
        account = selectors.accountability_for_actor(_user(request), study, site=site)
    except PermissionDenied as error:
        raise Http404(str(error)) from error
    return {"study": study, "account": account, "site": site, "today": date.today()}


@login_required
@require_GET
def accountability_page(request: HttpRequest, identifier: str) -> HttpResponse:
    """Return the accountability of the reader's sites (one with ``?site=``)."""
    study = _study(request, identifier, selectors.READERS)
    return render(request, "pharmacy/accountability.html", _accountability_context(request, study))


@login_required
@require_GET
def accountability_pdf(request: HttpRequest, identifier: str) -> HttpResponse:
    """Return the printable accountability log (PDF; the HTML where Pango is missing)."""
    study = _study(request, identifier, selectors.READERS)
    html = render_to_string(
        "pharmacy/accountability_pdf.html", _accountability_context(request, study), request
    )
    try:
        pdf = html_to_pdf(html)
    except PdfUnavailable:
        return HttpResponse(html)
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{study.identifier}-accountability.pdf"'
    return response


@login_required
def resupply_page(request: HttpRequest, identifier: str) -> HttpResponse:
    """Return each site's stock and need; on POST, propose resupplies where a site falls short."""
    study = _study(request, identifier, selectors.READERS)
    user = _user(request)
    problem, done = "", ""
    if request.method == "POST":
        try:
            sites = selectors.pharmacy_sites(
                user, study, actions=(Action.DISPENSE, Action.MANAGE_STUDY)
            )
            proposals = resupply_propose(actor=user, study=study, sites=sites)
            done = _("%(count)s resupply proposal(s) sent to the depot.") % {
                "count": len(proposals)
            }
        except CarnetError as error:
            problem = str(error)
    return render(
        request,
        "pharmacy/resupply.html",
        {
            "study": study,
            "view": selectors.resupply_for_actor(user, study),
            "problem": problem,
            "done": done,
        },
        status=400 if problem else 200,
    )
