"""Pages of pharmacovigilance: the clocks' dashboard, a safety report (SAE, AESI or pregnancy:
sign, assess, unblind, download), the reference safety information, the reconciliation and the
line listing."""

from __future__ import annotations

from datetime import date

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.views.decorators.http import require_GET, require_http_methods

from carnet.accounts.models import User
from carnet.accounts.permissions import PermissionDenied, may
from carnet.accounts.roles import Action
from carnet.accounts.selectors import study_for_actor
from carnet.accounts.signatures import signature_meanings
from carnet.core.clock import utc_today
from carnet.core.errors import CarnetError
from carnet.core.pdf import PdfUnavailable
from carnet.randomization.selectors import holds_pharmacovigilance
from carnet.safety import documents, e2b, selectors, services
from carnet.safety.case_data import event_rows, pregnancy_rows, shown_content
from carnet.safety.models import ReportKind, SaeReport, SaeReportVersion
from carnet.studies.models import Study


def _study(request: HttpRequest, identifier: str) -> tuple[User, Study]:
    """Return the person and the study when they may read its safety pages; 404 otherwise."""
    user = request.user
    assert isinstance(user, User)
    try:
        study = study_for_actor(user, identifier)
    except PermissionDenied as error:
        raise Http404(str(error)) from error
    if not selectors.may_read_safety(user, study):
        raise Http404("No such page.")
    return user, study


def _report(request: HttpRequest, identifier: str, reference: str) -> tuple[User, SaeReport]:
    user, study = _study(request, identifier)
    try:
        return user, selectors.report_of(user, study, reference)
    except PermissionDenied as error:
        raise Http404(str(error)) from error


@login_required
@require_GET
def dashboard(request: HttpRequest, identifier: str) -> HttpResponse:
    """Show the study's SAE reports with their clocks, the most urgent first."""
    user, study = _study(request, identifier)
    return render(
        request,
        "safety/dashboard.html",
        {
            "study": study,
            "rows": selectors.clock_rows(user, study),
            "pharmacovigilance": holds_pharmacovigilance(user, study),
        },
    )


def _act(request: HttpRequest, user: User, report: SaeReport) -> str:
    """Run the page's action (the button pressed); return an error message or ""."""
    post = request.POST
    action = post.get("action", "")
    try:
        if action == "prepare":
            services.sae_version_prepare(
                actor=user, report=report, narrative=post.get("narrative", "")
            )
        elif action == "sign":
            services.sae_version_sign(
                actor=user,
                report=report,
                password=post.get("password", ""),
                totp_code=post.get("totp_code", ""),
                meaning=post.get("meaning", ""),
            )
        elif action == "assess":
            expected = {"yes": True, "no": False}.get(post.get("expected", ""))
            services.sae_assess(
                actor=user,
                report=report,
                causality=int(post.get("causality") or 0),
                expected=expected,
                comment=post.get("comment", ""),
            )
        elif action == "unblind":
            services.susar_unblind(actor=user, report=report, reason=post.get("reason", ""))
        elif action == "reported":
            services.susar_reported(
                actor=user,
                report=report,
                on=date.fromisoformat(post.get("on", "")),
                follow_up=post.get("follow_up") == "1",
            )
        else:
            return "?"
    except (CarnetError, ValueError) as error:
        return str(error)
    return ""


@login_required
@require_http_methods(["GET", "POST"])
def report_page(request: HttpRequest, identifier: str, reference: str) -> HttpResponse:
    """Show an SAE report: its casebook data, versions, clocks and what the reader may do."""
    user, report = _report(request, identifier, reference)
    error = ""
    if request.method == "POST":
        error = _act(request, user, report)
        if not error:
            return redirect("safety:report", identifier=identifier, reference=reference)
        report.refresh_from_db()
    versions = selectors.versions_of(report)
    language = translation.get_language() or "en"
    rows_of = pregnancy_rows if report.kind == ReportKind.PREGNANCY else event_rows
    for version in versions:
        version.shown = shown_content(user, report.subject, version.content)  # type: ignore[attr-defined]
        version.rows = rows_of(version.shown, language)  # type: ignore[attr-defined]
    draft = next((v for v in versions if v.sent_at is None), None)
    study = report.study
    investigator = may(user, Action.SIGN_DATA, study=study, site=report.subject.site) and may(
        user, Action.REPORT_SAFETY, study=study, site=report.subject.site
    )
    return render(
        request,
        "safety/report.html",
        {
            "study": study,
            "report": report,
            "versions": versions,
            "draft": draft,
            "latest": versions[-1] if versions else None,
            "sent": [v for v in versions if v.sent_at is not None],
            "site_due_at": selectors.site_due_at(report),
            "pregnancy": report.kind == ReportKind.PREGNANCY,
            "outcome_due_on": selectors.pregnancy_outcome(report, utc_today())[0],
            "investigator": investigator,
            "pharmacovigilance": holds_pharmacovigilance(user, study),
            "meanings": signature_meanings(study),
            "causality_scale": sorted(services.CAUSALITY.items()),
            "investigator_causality": services.CAUSALITY.get(
                report.investigator_causality or 0, ""
            ),
            "sponsor_causality": services.CAUSALITY.get(report.sponsor_causality or 0, ""),
            "arm": selectors.arm_shown(user, report),
            "error": error,
        },
        status=400 if error else 200,
    )


def _version(report: SaeReport, number: int) -> SaeReportVersion:
    # CIOMS-I and E2B(R3) report adverse reactions: a pregnancy report has neither.
    version = (
        None if report.kind == ReportKind.PREGNANCY else selectors.sent_version(report, number)
    )
    if version is None:
        raise Http404("No such version.")
    return version


@login_required
@require_GET
def cioms_pdf(request: HttpRequest, identifier: str, reference: str, number: int) -> HttpResponse:
    """Download the CIOMS-I form of a sent version (the arm as the reader may see it)."""
    user, report = _report(request, identifier, reference)
    version = _version(report, number)
    arm = selectors.arm_shown(user, report)
    version.content = shown_content(user, report.subject, version.content)
    try:
        pdf = documents.cioms_pdf(report, version, arm=arm)
    except PdfUnavailable as error:
        return HttpResponse(str(error), status=503, content_type="text/plain; charset=utf-8")
    answer = HttpResponse(pdf, content_type="application/pdf")
    answer["Content-Disposition"] = f'attachment; filename="CIOMS-I_{reference}_v{number}.pdf"'
    return answer


@login_required
@require_GET
def e2b_xml(request: HttpRequest, identifier: str, reference: str, number: int) -> HttpResponse:
    """Download the E2B(R3) ICSR of a sent version (pharmacovigilance only)."""
    user, report = _report(request, identifier, reference)
    if not holds_pharmacovigilance(user, report.study):
        raise Http404("No such page.")
    version = _version(report, number)
    version.content = shown_content(user, report.subject, version.content)
    try:
        xml = e2b.icsr_xml(report, version)
    except CarnetError as error:
        return HttpResponse(str(error), status=503, content_type="text/plain; charset=utf-8")
    answer = HttpResponse(xml, content_type="application/xml")
    answer["Content-Disposition"] = f'attachment; filename="ICSR_{reference}_v{number}.xml"'
    return answer


@login_required
@require_http_methods(["GET", "POST"])
def rsi_page(request: HttpRequest, identifier: str) -> HttpResponse:
    """List the versions of the reference safety information; pharmacovigilance adds one."""
    user, study = _study(request, identifier)
    error = ""
    if request.method == "POST":
        try:
            services.rsi_add(
                actor=user,
                study=study,
                version=request.POST.get("version", ""),
                effective_from=date.fromisoformat(request.POST.get("effective_from", "")),
                expected_terms=request.POST.get("expected_terms", "").splitlines(),
            )
        except (CarnetError, ValueError) as error_raised:
            error = str(error_raised)
        else:
            return redirect("safety:rsi", identifier=identifier)
    return render(
        request,
        "safety/rsi.html",
        {
            "study": study,
            "versions": selectors.rsi_versions(study),
            "may_add": holds_pharmacovigilance(user, study)
            or may(user, Action.MANAGE_STUDY, study=study),
            "error": error,
        },
        status=400 if error else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def reconciliation_page(request: HttpRequest, identifier: str) -> HttpResponse:
    """List every difference between the safety reports and the casebook; raise a query or
    resolve one with a reason."""
    user, study = _study(request, identifier)
    error = ""
    if request.method == "POST":
        post = request.POST
        try:
            report = selectors.report_of(user, study, post.get("reference", ""))
            values = {
                "actor": user,
                "report": report,
                "field": post.get("field", ""),
                "safety_value": post.get("safety_value", ""),
                "clinical_value": post.get("clinical_value", ""),
            }
            if post.get("action") == "query":
                services.reconciliation_query(**values, text=post.get("text", ""))  # type: ignore[arg-type]
            else:
                services.reconciliation_resolve(**values, reason=post.get("reason", ""))  # type: ignore[arg-type]
        except CarnetError as error_raised:
            error = str(error_raised)
        else:
            return redirect("safety:reconciliation", identifier=identifier)
    return render(
        request,
        "safety/reconciliation.html",
        {
            "study": study,
            "differences": selectors.differences(user, study),
            "without_report": selectors.unreconciled_in_clinical_data(user, study),
            "error": error,
        },
        status=400 if error else 200,
    )


@login_required
@require_GET
def line_listing(request: HttpRequest, identifier: str) -> HttpResponse:
    """Download the line listing (CSV) of the cases received in a period."""
    user, study = _study(request, identifier)
    try:
        start = date.fromisoformat(request.GET.get("start", ""))
        end = date.fromisoformat(request.GET.get("end", ""))
    except ValueError:
        return HttpResponse(
            "Give start and end as YYYY-MM-DD.",
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    text = documents.line_listing_csv(selectors.reports_visible(user, study), start=start, end=end)
    answer = HttpResponse(text, content_type="text/csv; charset=utf-8")
    answer["Content-Disposition"] = (
        f'attachment; filename="{study.identifier}_SAE_{start}_{end}.csv"'
    )
    return answer
