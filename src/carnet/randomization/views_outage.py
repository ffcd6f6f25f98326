"""Pages of the outage procedure: the reconciliation of paper allocations with the sites'
sealed envelopes, the envelopes' PDF (unblinded roles only), and recording a paper allocation.

No arm on any of these pages except inside the PDF, which the reconciliation module refuses to
anyone the blinding policy keeps blinded.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from carnet.accounts.models import User
from carnet.accounts.permissions import PermissionDenied, is_unblinded, may
from carnet.accounts.roles import Action
from carnet.accounts.selectors import study_for_actor
from carnet.core.errors import CarnetError, ValidationError
from carnet.core.pdf import PANGO_PACKAGES, PdfUnavailable
from carnet.randomization import outage, reconciliation
from carnet.studies.models import Study
from carnet.subjects.selectors import subject_for_actor

# The paper allocation form's fields, kept as typed when the page answers a refusal.
_FIELDS = ("envelope", "day", "time", "allocated_by", "reason", "kit")


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _study(request: HttpRequest, identifier: str) -> Study:
    try:
        return study_for_actor(_user(request), identifier)
    except PermissionDenied as error:
        raise Http404(str(error)) from error


@login_required
@require_GET
def outage_page(request: HttpRequest, identifier: str) -> HttpResponse:
    """Show the sites' envelopes and the reconciliation of the paper allocations (no arm)."""
    study = _study(request, identifier)
    user = _user(request)
    try:
        rows = reconciliation.paper_reconciliation(actor=user, study=study)
    except PermissionDenied as denied:
        raise Http404(str(denied)) from denied
    except CarnetError as refused:
        raise Http404(str(refused)) from refused
    return render(
        request,
        "randomization/outage.html",
        {
            "study": study,
            "rows": rows,
            "sites": reconciliation.backup_sites(study),
            "may_print": is_unblinded(user, study=study),
        },
    )


@login_required
@require_GET
def envelopes_pdf_download(request: HttpRequest, identifier: str, site: str) -> HttpResponse:
    """Return a site's sealed envelopes as a PDF (unblinded roles only: it holds the arms)."""
    study = _study(request, identifier)
    found = study.sites.filter(code=site).first()
    if found is None:
        raise Http404(_("No site %(site)s.") % {"site": site})
    try:
        pdf = reconciliation.envelopes_pdf(actor=_user(request), study=study, site=found)
    except PermissionDenied as denied:
        return HttpResponse(str(denied), status=403, content_type="text/plain; charset=utf-8")
    except PdfUnavailable as missing:
        return HttpResponse(
            _(
                "This server cannot make PDFs: WeasyPrint could not load the system's Pango "
                "library (%(cause)s). Ask your administrator to install %(packages)s."
            )
            % {"cause": missing.cause, "packages": PANGO_PACKAGES},
            status=503,
            content_type="text/plain; charset=utf-8",
        )
    except CarnetError as refused:
        raise Http404(str(refused)) from refused
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = (
        f'attachment; filename="{study.identifier}-site-{found.code}-envelopes.pdf"'
    )
    return response


def _moment(day: str, clock: str, time_zone: str) -> datetime:
    """Return the moment a site gave (its date and time, in its time zone)."""
    try:
        naive = datetime.fromisoformat(f"{day.strip()}T{(clock or '00:00').strip()}")
    except ValueError as error:
        raise ValidationError(
            "allocated_at: " + _("give the date (YYYY-MM-DD) and the time (HH:MM).")
        ) from error
    return naive.replace(tzinfo=ZoneInfo(time_zone))


@login_required
@require_http_methods(["GET", "POST"])
def paper_page(request: HttpRequest, identifier: str, subject: str) -> HttpResponse:
    """Record an allocation made on paper during an outage (the envelope opened at the site)."""
    study = _study(request, identifier)
    user = _user(request)
    try:
        found = subject_for_actor(user, study=study, identifier=subject)
    except PermissionDenied as error:
        raise Http404(str(error)) from error
    if not may(user, Action.INCLUDE_SUBJECT, study=study, site=found.site):
        raise Http404(_("Only the subject's site records its paper allocations."))
    message, status = "", 200
    values = {key: str(request.POST.get(key, "")) for key in _FIELDS}
    if request.method == "POST":
        try:
            outage.subject_randomise_on_paper(
                actor=user,
                subject=found,
                envelope=values["envelope"],
                allocated_at=_moment(values["day"], values["time"], found.site.centre.time_zone),
                allocated_by=values["allocated_by"],
                reason=values["reason"],
                kit_given=values["kit"],
            )
        except PermissionDenied as refused:
            message, status = str(refused), 403
        except CarnetError as refused:
            message, status = str(refused), 400
        else:
            messages.success(
                request,
                _("The paper allocation of %(subject)s is recorded.") % {"subject": found},
            )
            return HttpResponseRedirect(
                reverse("randomization:randomisation", args=[identifier, found.identifier])
            )
    return render(
        request,
        "randomization/paper.html",
        {"study": study, "subject": found, "values": values, "error": message},
        status=status,
    )
