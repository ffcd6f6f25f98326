"""API of the safety app: SAE, AESI and pregnancy reports and their clocks, the sponsor's
assessment, reference safety information and the reconciliation's differences. No logic here:
selectors and services decide. The investigator prepares a version and signs it (e-signature:
password, the authenticator code when enrolled, a meaning of the study's list) as on the page."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema
from ninja.responses import Status

from carnet.accounts.permissions import PermissionDenied, request_user
from carnet.accounts.selectors import study_for_request
from carnet.core.clock import utc_today
from carnet.safety import selectors, services
from carnet.safety.case_data import shown_content
from carnet.safety.models import SaeReport, SaeReportVersion

router = Router(tags=["safety"])


class SaeReportOut(Schema):
    reference: str
    kind: str = Field(description="sae, aesi (of special interest, not serious) or pregnancy")
    aesi: bool = Field(description="An adverse event of special interest (an SAE may be one)")
    subject: str
    site: str
    aware_at: datetime = Field(description="When the site became aware (the serious save)")
    site_due_at: datetime = Field(
        description="24 hours after awareness for an SAE; the study's limit for the others"
    )
    versions_sent: int
    late: bool = Field(description="The initial report was sent after 24 hours")
    sponsor_causality: int | None = Field(description="1 not related … 5 certain")
    expected: bool | None
    rsi: str = Field(description="The RSI version the expectedness was assessed against")
    susar: bool
    susar_due_on: date | None
    follow_up_due_on: date | None
    susar_reported_on: date | None
    arm: str = Field(description="The subject's arm as the reader may see it; '(blinded)'")
    outcome_due_on: date | None = Field(
        description="A pregnancy: its outcome is followed up by the expected delivery date"
    )


class SaeReportDetailOut(SaeReportOut):
    content: dict[str, Any] = Field(description="The latest version's casebook data (blinded)")


class SaeAssessmentIn(Schema):
    causality: int = Field(ge=1, le=5, description="Never below the investigator's")
    expected: bool | None = Field(None, description="Omit to assess against the RSI's terms")
    comment: str = ""


class SaeDraftIn(Schema):
    narrative: str = Field("", description="The investigator's narrative of the case")
    follow_up: bool = Field(
        False,
        description="True opens a follow-up (refused while a version is unsent); false "
        "refreshes the unsent version (refused when every version is sent)",
    )


class SaeSignIn(Schema):
    narrative: str | None = Field(
        None, description="Replaces the version's narrative; omit to keep it"
    )
    meaning: str = Field(description="One of the study's signature meanings")
    password: str = Field(description="The investigator's password: the e-signature")
    totp_code: str = Field("", description="The authenticator code, when enrolled")


class SaeVersionOut(Schema):
    number: int
    narrative: str
    signed_at: datetime | None
    sent_at: datetime | None
    late: bool = Field(description="The initial report was sent after its limit")


class RsiOut(Schema):
    version: str
    effective_from: date
    expected_terms: list[str]


class RsiIn(Schema):
    version: str
    effective_from: date
    expected_terms: list[str]


class ReconciliationDifferenceOut(Schema):
    reference: str
    subject: str
    field: str
    safety_value: str
    clinical_value: str
    decision: str = Field(description="'', query or resolved")


def _record(actor: Any, report: SaeReport) -> dict[str, Any]:
    versions = list(report.versions.all())
    sent = [v for v in versions if v.sent_at is not None]
    return {
        "reference": report.reference,
        "kind": report.kind,
        "aesi": report.aesi,
        "subject": report.subject.identifier,
        "site": report.subject.site.code,
        "aware_at": report.aware_at,
        "site_due_at": selectors.site_due_at(report),
        "versions_sent": len(sent),
        "late": any(v.late for v in sent),
        "sponsor_causality": report.sponsor_causality,
        "expected": report.expected,
        "rsi": report.rsi.version if report.rsi else "",
        "susar": report.susar,
        "susar_due_on": report.susar_due_on,
        "follow_up_due_on": report.follow_up_due_on,
        "susar_reported_on": report.susar_reported_on,
        "arm": selectors.arm_shown(actor, report),
        "outcome_due_on": selectors.pregnancy_outcome(report, utc_today())[0],
    }


def _safety_reader(request: HttpRequest, identifier: str) -> tuple[Any, Any]:
    actor = request_user(request)
    study = study_for_request(request, identifier)
    if not selectors.may_read_safety(actor, study):
        raise PermissionDenied("You may not read this study's safety reports.")
    return actor, study


@router.get(
    "/{identifier}/safety/reports",
    response=list[SaeReportOut],
    summary="The study's safety reports (SAE, AESI, pregnancy) I may see, with their clocks",
)
def sae_report_list(request: HttpRequest, identifier: str) -> list[dict[str, Any]]:
    actor, study = _safety_reader(request, identifier)
    reports = selectors.reports_visible(actor, study).prefetch_related("versions")
    return [_record(actor, report) for report in reports]


@router.get(
    "/{identifier}/safety/reports/{reference}",
    response=SaeReportDetailOut,
    summary="One SAE report with its latest version's data",
)
def sae_report_detail(request: HttpRequest, identifier: str, reference: str) -> dict[str, Any]:
    actor, study = _safety_reader(request, identifier)
    report = selectors.report_of(actor, study, reference)
    latest = report.versions.order_by("-number").first()
    content = latest.content if latest else {}
    return {**_record(actor, report), "content": shown_content(actor, report.subject, content)}


@router.post(
    "/{identifier}/safety/reports/{reference}/assessment",
    response=SaeReportOut,
    summary="Record pharmacovigilance's assessment (causality, expectedness; SUSAR clock)",
)
def sae_assessment(
    request: HttpRequest, identifier: str, reference: str, payload: SaeAssessmentIn
) -> dict[str, Any]:
    actor, study = _safety_reader(request, identifier)
    report = selectors.report_of(actor, study, reference)
    services.sae_assess(
        actor=actor,
        report=report,
        causality=payload.causality,
        expected=payload.expected,
        comment=payload.comment,
    )
    return _record(actor, selectors.report_of(actor, study, reference))


@router.post(
    "/{identifier}/safety/reports/{reference}/draft",
    response=SaeVersionOut,
    summary="Refresh the unsent version from the casebook, or open a follow-up, with a narrative",
)
def sae_draft(
    request: HttpRequest, identifier: str, reference: str, payload: SaeDraftIn
) -> SaeReportVersion:
    actor, study = _safety_reader(request, identifier)
    report = selectors.report_of(actor, study, reference)
    return services.sae_version_prepare(
        actor=actor, report=report, narrative=payload.narrative, follow_up=payload.follow_up
    )


@router.post(
    "/{identifier}/safety/reports/{reference}/sign",
    response=SaeVersionOut,
    summary="Sign the unsent version as the site's investigator (e-signature) and send it",
    description=(
        "The investigator of the subject's site signs the version prepared last (password, the "
        "authenticator code when enrolled, one of the study's meanings): it goes to "
        "pharmacovigilance and never changes. A wrong password or code signs nothing (400)."
    ),
)
def sae_sign(
    request: HttpRequest, identifier: str, reference: str, payload: SaeSignIn
) -> SaeReportVersion:
    actor, study = _safety_reader(request, identifier)
    report = selectors.report_of(actor, study, reference)
    return services.sae_version_sign(
        actor=actor,
        report=report,
        password=payload.password,
        totp_code=payload.totp_code,
        meaning=payload.meaning,
        narrative=payload.narrative,
    )


@router.get(
    "/{identifier}/safety/rsi",
    response=list[RsiOut],
    summary="The versions of the study's reference safety information",
)
def rsi_list(request: HttpRequest, identifier: str) -> list[Any]:
    _actor, study = _safety_reader(request, identifier)
    return list(selectors.rsi_versions(study))


@router.post(
    "/{identifier}/safety/rsi",
    response={201: RsiOut},
    summary="Add a version of the reference safety information",
)
def rsi_create(request: HttpRequest, identifier: str, payload: RsiIn) -> Status[Any]:
    actor = request_user(request)
    study = study_for_request(request, identifier)
    rsi = services.rsi_add(
        actor=actor,
        study=study,
        version=payload.version,
        effective_from=payload.effective_from,
        expected_terms=payload.expected_terms,
    )
    return Status(201, rsi)


@router.get(
    "/{identifier}/safety/reconciliation",
    response=list[ReconciliationDifferenceOut],
    summary="Differences between the SAE reports and the casebook's serious adverse events",
)
def reconciliation_list(request: HttpRequest, identifier: str) -> list[dict[str, Any]]:
    actor, study = _safety_reader(request, identifier)
    return [
        {
            "reference": d.report.reference,
            "subject": d.report.subject.identifier,
            "field": d.field,
            "safety_value": d.safety_value,
            "clinical_value": d.clinical_value,
            "decision": d.decision.outcome if d.decision else "",
        }
        for d in selectors.differences(actor, study)
    ]
