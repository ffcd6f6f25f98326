"""Reads of pharmacovigilance, scoped by the reader's sites: SAE reports (site investigators
and pharmacovigilance; data management for reconciliation), the clocks' dashboard, the
reconciliation's differences and the arm as the blinding policy lets the reader see it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.db.models import QuerySet

from carnet.accounts.models import User
from carnet.accounts.permissions import PermissionDenied, site_scope
from carnet.accounts.roles import Action
from carnet.capture.models import ItemValue
from carnet.core.clock import utc_now, utc_today
from carnet.randomization.models import Allocation
from carnet.randomization.unblinding import allocation_arm
from carnet.safety import clocks
from carnet.safety.case_data import adverse_event_data, field_text, pregnancy_text
from carnet.safety.models import (
    ReconciliationDecision,
    ReferenceSafetyInformation,
    ReportKind,
    SaeReport,
    SaeReportVersion,
)
from carnet.studies.models import Study, StudyVersion

READ_ACTIONS = (Action.REPORT_SAFETY, Action.MANAGE_DATA)


def reports_visible(actor: User, study: Study) -> QuerySet[SaeReport]:
    """Return the study's SAE reports at the sites where the actor reports or manages data."""
    reports = SaeReport.objects.filter(study=study).select_related("subject", "subject__site")
    site_ids: set[int] = set()
    for action in READ_ACTIONS:
        scope = site_scope(actor, action, study=study)
        if scope.all_sites:
            return reports
        site_ids |= scope.site_ids
    return reports.filter(subject__site_id__in=site_ids)


def report_of(actor: User, study: Study, reference: str) -> SaeReport:
    """Return one report the actor may read; PermissionDenied otherwise (never a hint)."""
    report = reports_visible(actor, study).filter(reference=reference).first()
    if report is None:
        raise PermissionDenied("SAE report not found.")
    return report


def may_read_safety(actor: User, study: Study) -> bool:
    return any(not site_scope(actor, a, study=study).empty for a in READ_ACTIONS)


def versions_of(report: SaeReport) -> list[SaeReportVersion]:
    return list(report.versions.select_related("signature").order_by("number"))


def sent_version(report: SaeReport, number: int) -> SaeReportVersion | None:
    """Return the version ``number`` of the report if it was sent (None otherwise)."""
    return report.versions.filter(number=number, sent_at__isnull=False).first()


def rsi_versions(study: Study) -> list[ReferenceSafetyInformation]:
    return list(ReferenceSafetyInformation.objects.filter(study=study).order_by("effective_from"))


def arm_shown(actor: User, report: SaeReport) -> str:
    """Return the subject's arm as the actor may read it ("" when not randomised)."""
    allocation = (
        Allocation.objects.filter(subject=report.subject).select_related("study", "subject").first()
    )
    if allocation is None:
        return ""
    return allocation_arm(actor, allocation)


@dataclass(frozen=True)
class ClockRow:
    report: SaeReport
    site_due_at: datetime
    site_state: str  # sent, late, overdue, running
    susar_state: str
    follow_up_state: str
    days_left: int | None
    # A pregnancy's outcome is followed up by its expected delivery date.
    outcome_due_on: date | None = None
    outcome_state: str = ""


def site_due_at(report: SaeReport) -> datetime:
    """Return when the site's initial report is due (24 hours for an SAE)."""
    return clocks.site_due_at(report.aware_at, report.site_limit_hours)


def _site_state(report: SaeReport, now: datetime) -> str:
    # The first version sent since awareness (an AESI turned serious: since it did).
    first = next(
        (
            v
            for v in sorted(report.versions.all(), key=lambda v: v.number)
            if v.sent_at is not None and v.sent_at >= report.aware_at
        ),
        None,
    )
    if first is not None:
        return "late" if first.late else "sent"
    return "overdue" if now > site_due_at(report) else "running"


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text[:10]) if len(text) >= 10 else None
    except ValueError:
        return None


def pregnancy_outcome(report: SaeReport, today: date) -> tuple[date | None, str]:
    """Return a pregnancy's outcome due date (its expected delivery) and the state of that
    follow-up: done once a sent version holds the outcome."""
    if report.kind != ReportKind.PREGNANCY:
        return None, ""
    versions = sorted(report.versions.all(), key=lambda v: v.number)
    if not versions:
        return None, ""
    due = _day(pregnancy_text(versions[-1].content, "edd"))
    told = next(
        (
            v.sent_at.date()
            for v in versions
            if v.sent_at is not None and pregnancy_text(v.content, "outcome")
        ),
        None,
    )
    return due, clocks.clock_state(due, told, today)


def clock_rows(actor: User, study: Study, *, today: date | None = None) -> list[ClockRow]:
    """Return every visible report with its clocks, the most urgent first."""
    today = today or utc_today()
    now = utc_now()
    rows = []
    for report in reports_visible(actor, study).prefetch_related("versions"):
        due = report.susar_due_on
        outcome_due_on, outcome_state = pregnancy_outcome(report, today)
        rows.append(
            ClockRow(
                report=report,
                site_due_at=site_due_at(report),
                site_state=_site_state(report, now),
                susar_state=clocks.clock_state(due, report.susar_reported_on, today),
                follow_up_state=clocks.clock_state(
                    report.follow_up_due_on, report.follow_up_reported_on, today
                ),
                days_left=clocks.days_left(due, today)
                if due and not report.susar_reported_on
                else None,
                outcome_due_on=outcome_due_on,
                outcome_state=outcome_state,
            )
        )
    return sorted(rows, key=lambda r: (r.days_left is None, r.days_left or 0, r.report.pk))


# --- reconciliation -------------------------------------------------------------------------

RECONCILED_FIELDS = ("term", "onset", "end", "outcome", "causality", "serious")


@dataclass(frozen=True)
class Difference:
    report: SaeReport
    field: str
    safety_value: str
    clinical_value: str
    decision: ReconciliationDecision | None


def _texts(data: dict[str, Any]) -> dict[str, str]:
    content = {"adverse_event": data}
    return {f: field_text(content, f) for f in RECONCILED_FIELDS}


def _decided(report: SaeReport) -> dict[tuple[str, str, str], ReconciliationDecision]:
    return {(d.field, d.safety_value, d.clinical_value): d for d in report.decisions.all()}


def _serious_rows_without_report(study: Study, site_ids: set[int] | None) -> list[ItemValue]:
    # The items marked serious (AESER) in each version: each definition is decoded once, not
    # once per yes-valued row of the study (hours at 10,000 patients).
    serious = {
        (version.pk, form.name, item.name)
        for version in StudyVersion.objects.filter(study=study)
        for form in version.parsed().forms
        for item in form.items()
        if item.sas_name == "AESER"
    }
    if not serious:
        return []
    values = ItemValue.objects.filter(
        form_instance__subject__study=study,
        removed=False,
        text__in=["1", "Y", "y", "yes", "true"],
        item__in={name for _version, _form, name in serious},
        form_instance__form__in={form for _version, form, _name in serious},
    ).select_related("form_instance", "form_instance__subject")
    if site_ids is not None:
        values = values.filter(form_instance__subject__site_id__in=site_ids)
    reported = set(SaeReport.objects.filter(study=study).values_list("form_instance_id", "row"))
    return [
        value
        for value in values
        if (value.form_instance_id, value.row) not in reported
        and (value.form_instance.study_version_id, value.form_instance.form, value.item) in serious
    ]


def differences(actor: User, study: Study) -> list[Difference]:
    """Return every difference between the SAE reports (latest sent version) and the serious
    adverse events of the casebook, with what was decided about it (None while open)."""
    out: list[Difference] = []
    for report in reports_visible(actor, study).prefetch_related("versions", "decisions"):
        sent = [v for v in report.versions.all() if v.sent_at is not None]
        if not sent:
            continue
        reported = _texts(sent[-1].content.get("adverse_event", {}))
        clinical = _texts(adverse_event_data(report.form_instance, report.row))
        decided = _decided(report)
        for field in RECONCILED_FIELDS:
            if reported[field] != clinical[field]:
                key = (field, reported[field], clinical[field])
                out.append(Difference(report, field, key[1], key[2], decided.get(key)))
    return out


def unreconciled_in_clinical_data(actor: User, study: Study) -> list[ItemValue]:
    """Return the serious adverse events of the casebook without an SAE report."""
    scope = site_scope(actor, Action.MANAGE_DATA, study=study)
    return _serious_rows_without_report(study, None if scope.all_sites else set(scope.site_ids))


def unreconciled_count(*, study: Study) -> int:
    """Return how many differences between safety and clinical data are still open (no query
    raised, no reason given), plus serious events without a report: for the lock checklist."""
    count = len(_serious_rows_without_report(study, None))
    for report in SaeReport.objects.filter(study=study).prefetch_related("versions", "decisions"):
        sent = [v for v in report.versions.all() if v.sent_at is not None]
        if not sent:
            count += 1
            continue
        reported = _texts(sent[-1].content.get("adverse_event", {}))
        clinical = _texts(adverse_event_data(report.form_instance, report.row))
        decided = _decided(report)
        count += sum(
            1
            for f in RECONCILED_FIELDS
            if reported[f] != clinical[f] and (f, reported[f], clinical[f]) not in decided
        )
    return count
