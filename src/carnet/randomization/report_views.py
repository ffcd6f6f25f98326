"""The randomisation report page and its PDF, for any member of the study.

What the reader sees is decided by the blinding policy: the arms and the allocation listing only
for unblinded roles; the blinded variant has the scheme, the hashes and the counts, no arm.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from carnet.accounts.blinding import blinding_of
from carnet.accounts.models import User
from carnet.accounts.permissions import PermissionDenied
from carnet.accounts.selectors import study_for_actor
from carnet.core.pdf import PANGO_PACKAGES, PdfUnavailable
from carnet.randomization.report import RandomisationReport, randomisation_report, report_pdf


def _report(request: HttpRequest, identifier: str) -> RandomisationReport:
    user = request.user
    assert isinstance(user, User)
    try:
        study = study_for_actor(user, identifier)
    except PermissionDenied as error:
        raise Http404(str(error)) from error
    return randomisation_report(study=study, blinding=blinding_of(user, study=study))


@login_required
@require_GET
def report_page(request: HttpRequest, identifier: str) -> HttpResponse:
    """Show the study's randomisation report as the reader may see it."""
    report = _report(request, identifier)
    return render(request, "randomization/report.html", {"study": report.study, "report": report})


@login_required
@require_GET
def report_pdf_download(request: HttpRequest, identifier: str) -> HttpResponse:
    """Return the same report as a PDF for the trial master file."""
    report = _report(request, identifier)
    variant = "unblinded" if report.unblinded else "blinded"
    try:
        pdf = report_pdf(report)
    except PdfUnavailable as missing:
        # The page holds the same report: say why there is no PDF and what the server needs.
        return render(
            request,
            "randomization/report.html",
            {
                "study": report.study,
                "report": report,
                "pdf_error": _(
                    "This server cannot make PDFs: WeasyPrint could not load the system's Pango "
                    "library (%(cause)s). Ask your administrator to install %(packages)s; the "
                    "report below is the same as the PDF would be."
                )
                % {"cause": missing.cause, "packages": PANGO_PACKAGES},
            },
            status=503,
        )
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = (
        f'attachment; filename="{report.study.identifier}-randomisation-{variant}.pdf"'
    )
    return response
