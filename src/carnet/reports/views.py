"""Pages of the reports app: the design calculator (any signed-in person; no study, no patient
data) and a study's statistical reports at a cut-off (pooled for a blinded reader)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods

from carnet.accounts.models import User
from carnet.accounts.permissions import PermissionDenied
from carnet.accounts.selectors import study_for_actor
from carnet.analysis import AnalysisInputError
from carnet.core.errors import CarnetError
from carnet.core.pdf import PdfUnavailable
from carnet.interop.models import Cutoff
from carnet.interop.selectors import cutoff_named, cutoffs_of
from carnet.reports.activity import activity_csv, activity_report
from carnet.reports.datasets import may_report
from carnet.reports.design import (
    design_ahern,
    design_proportions,
    design_sequential,
    design_simon,
    design_survival,
    fractions_from_text,
)
from carnet.reports.forms import FORMS
from carnet.reports.models import ReportStatus
from carnet.reports.rendering import activity_document, report_pdf
from carnet.reports.selectors import report_of, report_run_of, report_runs
from carnet.reports.services import dsmb_request, report_file
from carnet.studies.models import Study

TITLES = {
    "simon": _("Simon two-stage (phase II)"),
    "ahern": _("A'Hern single stage (phase II)"),
    "survival": _("Survival: events and patients"),
    "proportions": _("Two proportions"),
    "sequential": _("Group-sequential boundaries"),
}
SERVICES: dict[str, Any] = {
    "simon": design_simon,
    "ahern": design_ahern,
    "survival": design_survival,
    "proportions": design_proportions,
    "sequential": design_sequential,
}


@login_required
@require_GET
def design_calculator(request: HttpRequest) -> HttpResponse:
    """Show the five calculators; the one submitted shows its result under its form."""
    asked = request.GET.get("calculator", "")
    sections = []
    for name, form_class in FORMS.items():
        form = form_class(request.GET if asked == name else None, initial={"calculator": name})
        result = error = None
        if asked == name and form.is_valid():
            values = {k: v for k, v in form.cleaned_data.items() if k != "calculator"}
            try:
                if name == "sequential":
                    values["information_fractions"] = fractions_from_text(
                        values["information_fractions"]
                    )
                    values["futility"] = values["futility"] or None
                result = SERVICES[name](**values)
            except AnalysisInputError as refused:
                error = str(refused)
        sections.append(
            {"name": name, "title": TITLES[name], "form": form, "result": result, "error": error}
        )
    return render(request, "reports/design.html", {"sections": sections, "asked": asked})


# --- the statistical reports of a study ----------------------------------------------------

REPORT_TITLES = {
    "survival": _("Survival report"),
    "response": _("Response report"),
    "safety": _("Safety report"),
    "conduct": _("Trial conduct report"),
    "dsmb-open": _("DSMB report, open session (pooled)"),
    "dsmb-closed": _("DSMB report, closed session (by arm)"),
}
FIGURE_TYPES = {"png": "image/png", "svg": "image/svg+xml"}


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def _study(request: HttpRequest, identifier: str) -> Study:
    try:
        return study_for_actor(_user(request), identifier)
    except PermissionDenied as error:
        raise Http404(str(error)) from error


def _cutoff(request: HttpRequest, study: Study, name: str) -> Cutoff:
    try:
        return cutoff_named(_user(request), study=study, name=name)
    except CarnetError as error:
        raise Http404(str(error)) from error


def _refused(request: HttpRequest, study: Study, error: Exception) -> HttpResponse:
    return render(
        request,
        "reports/statistics.html",
        {"study": study, "error": str(error), "refused": True, "unblinded": False},
        status=403,
    )


@login_required
@require_http_methods(["GET", "POST"])
def statistics_page(request: HttpRequest, identifier: str) -> HttpResponse:
    """List the study's cut-offs with a link to each report; ask the worker for a DSMB PDF."""
    study = _study(request, identifier)
    user = _user(request)
    try:
        blinding = may_report(user, study=study)
    except PermissionDenied as denied:
        return _refused(request, study, denied)
    error: str | None = None
    if request.method == "POST":
        try:
            cutoff = cutoff_named(user, study=study, name=request.POST.get("cutoff", ""))
            dsmb_request(
                actor=user, study=study, cutoff=cutoff, session=request.POST.get("session", "")
            )
        except (CarnetError, PermissionDenied) as refused:
            error = str(refused)
        else:
            messages.success(request, _("The DSMB report is queued for the worker."))
            return HttpResponseRedirect(reverse("reports:statistics", args=[study.identifier]))
    return render(
        request,
        "reports/statistics.html",
        {
            "study": study,
            "cutoffs": list(cutoffs_of(user, study=study)),
            "runs": report_runs(user, study=study),
            "unblinded": blinding.unblinded,
            "error": error,
        },
        status=400 if error else 200,
    )


def _report(request: HttpRequest, identifier: str, cutoff_name: str, kind: str) -> Any:
    study = _study(request, identifier)
    cutoff = _cutoff(request, study, cutoff_name)
    if kind not in REPORT_TITLES:
        raise Http404(_("No such report."))
    return study, cutoff, report_of(actor=_user(request), study=study, cutoff=cutoff, kind=kind)


@login_required
@require_GET
def report_page(request: HttpRequest, identifier: str, cutoff: str, kind: str) -> HttpResponse:
    """Show one report of a cut-off; a blinded reader's is pooled, the closed session refused."""
    try:
        study, found, (report, source) = _report(request, identifier, cutoff, kind)
    except PermissionDenied as error:
        return _refused(request, _study(request, identifier), error)
    base = reverse("reports:figure", args=[identifier, cutoff, kind, "x", "png"])
    return render(
        request,
        "reports/report.html",
        {
            "study": study,
            "cutoff": found,
            "kind": kind,
            "title": REPORT_TITLES[kind],
            "reports": [report],
            "source_line": source.line(),
            "figure_base": base.removesuffix("x.png"),
        },
    )


@login_required
@require_GET
def report_pdf_download(
    request: HttpRequest, identifier: str, cutoff: str, kind: str
) -> HttpResponse:
    """Return one report of a cut-off as a PDF."""
    try:
        study, found, (report, source) = _report(request, identifier, cutoff, kind)
        title = f"{report.title}: {study.identifier}, cut-off {found.name}"
        pdf = report_pdf([report], source, title=title)
    except PermissionDenied as error:
        return _refused(request, _study(request, identifier), error)
    except PdfUnavailable as error:
        return HttpResponse(str(error), status=503, content_type="text/plain; charset=utf-8")
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = (
        f'attachment; filename="{study.identifier}-{found.name}-{kind}.pdf"'
    )
    return response


@login_required
@require_GET
def report_figure(
    request: HttpRequest, identifier: str, cutoff: str, kind: str, name: str, file_format: str
) -> HttpResponse:
    """Return one figure of a report as PNG or SVG."""
    if file_format not in FIGURE_TYPES:
        raise Http404(_("No such figure."))
    try:
        _study_found, _cutoff_found, (report, _source) = _report(request, identifier, cutoff, kind)
    except PermissionDenied as error:
        return _refused(request, _study(request, identifier), error)
    figure = report.figure(name)
    if figure is None:
        raise Http404(_("No such figure."))
    body: bytes | str = figure.png if file_format == "png" else figure.svg
    return HttpResponse(body, content_type=FIGURE_TYPES[file_format])


@login_required
@require_GET
def dsmb_progress(request: HttpRequest, identifier: str, run_id: int) -> HttpResponse:
    """Return the progress line of one of the reader's DSMB reports (polled by htmx)."""
    study = _study(request, identifier)
    try:
        run = report_run_of(_user(request), study=study, run_id=run_id)
    except (CarnetError, PermissionDenied) as error:
        raise Http404(str(error)) from error
    return render(request, "reports/_dsmb_progress.html", {"study": study, "run": run})


@login_required
@require_GET
def dsmb_download(request: HttpRequest, identifier: str, run_id: int) -> FileResponse:
    """Return the PDF of one of the reader's own DSMB reports, once made."""
    study = _study(request, identifier)
    try:
        run = report_run_of(_user(request), study=study, run_id=run_id)
    except (CarnetError, PermissionDenied) as error:
        raise Http404(str(error)) from error
    path = report_file(run)
    if run.status != ReportStatus.DONE or not path.exists():
        raise Http404(_("This report is not made yet."))
    name = f"{study.identifier}-{run.cutoff.name}-dsmb-{run.session}.pdf"
    return FileResponse(path.open("rb"), as_attachment=True, filename=name)


# --- the centre's activity report -----------------------------------------------------------


def _year(request: HttpRequest) -> int | None:
    """Return the year asked for in the query (None: every year); refuse what is not one."""
    text = request.GET.get("year", "").strip()
    if not text:
        return None
    if not text.isdigit() or not 1900 <= int(text) <= 2200:
        raise ValueError(_("year: give a year such as 2026, or nothing for every year."))
    return int(text)


@login_required
@require_GET
def activity_page(request: HttpRequest) -> HttpResponse:
    """Show the activity report of the studies and sites the reader may count."""
    user = _user(request)
    error: str | None = None
    try:
        year = _year(request)
    except ValueError as refused:
        error, year = str(refused), None
    report = activity_report(user, year=year)
    # The last ten years, and any earlier one the report counts.
    recent = set(range(report.on.year - 9, report.on.year + 1))
    choices = sorted(recent | {summary.year for summary in report.years}, reverse=True)
    return render(
        request,
        "reports/activity.html",
        {
            "report": report,
            "year_choices": choices,
            "administrator": user.is_superuser,
            "error": error,
        },
        status=400 if error else 200,
    )


@login_required
@require_GET
def activity_csv_download(request: HttpRequest) -> HttpResponse:
    """Return the activity report as CSV."""
    try:
        year = _year(request)
    except ValueError as refused:
        return HttpResponse(str(refused), status=400, content_type="text/plain; charset=utf-8")
    report = activity_report(_user(request), year=year)
    response = HttpResponse(activity_csv(report), content_type="text/csv; charset=utf-8")
    name = f"activity-{year}.csv" if year else "activity.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@login_required
@require_GET
def activity_pdf_download(request: HttpRequest) -> HttpResponse:
    """Return the activity report as PDF."""
    from carnet.core.pdf import html_to_pdf

    try:
        year = _year(request)
    except ValueError as refused:
        return HttpResponse(str(refused), status=400, content_type="text/plain; charset=utf-8")
    report = activity_report(_user(request), year=year)
    try:
        pdf = html_to_pdf(activity_document(report))
    except PdfUnavailable as error:
        return HttpResponse(str(error), status=503, content_type="text/plain; charset=utf-8")
    response = HttpResponse(pdf, content_type="application/pdf")
    name = f"activity-{year}.pdf" if year else "activity.pdf"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
