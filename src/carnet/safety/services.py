"""Writes of pharmacovigilance: SAE reports and their signed versions, the sponsor's assessment
(causality, expectedness, SUSAR clock), reference safety information, unblinding for a SUSAR
and the reconciliation's decisions. Every write is audited on the study's chain."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from carnet.accounts.models import User
from carnet.accounts.permissions import PermissionDenied, may, require
from carnet.accounts.roles import Action, Role
from carnet.accounts.selectors import site_members
from carnet.accounts.signatures import signature_apply
from carnet.audit.services import AuditEntry, SystemActor, audit_record
from carnet.capture.models import FormInstance
from carnet.capture.seams import WriteContext
from carnet.core.clock import utc_now
from carnet.core.errors import ValidationError
from carnet.messaging.services import message_send, recipient_language
from carnet.randomization.selectors import holds_pharmacovigilance
from carnet.randomization.unblinding import pharmacovigilance_unblind
from carnet.safety import clocks
from carnet.safety.case_data import CRITERIA, case_content, field_text, is_yes
from carnet.safety.models import (
    ReconciliationDecision,
    ReferenceSafetyInformation,
    ReportKind,
    SaeReport,
    SaeReportVersion,
)
from carnet.studies.models import Study

# The causality scale (WHO-UMC, as the example studies' "relatedness" list): a code at or above
# POSSIBLE counts as a suspected reaction.
CAUSALITY = {
    1: gettext_noop("Not related"),
    2: gettext_noop("Unlikely"),
    3: gettext_noop("Possible"),
    4: gettext_noop("Probable"),
    5: gettext_noop("Certain"),
}
POSSIBLE = 3


class AssessmentRefused(ValidationError):
    """The sponsor's assessment is refused; ``code`` says which rule."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _label(actor: User | SystemActor) -> str:
    if isinstance(actor, SystemActor):
        return actor.label
    return actor.display_name() or actor.get_username()


# The reference of each kind of report: STUDY-SAE-0001, STUDY-AESI-0001, STUDY-PREG-0001.
PREFIXES = {ReportKind.SAE: "SAE", ReportKind.AESI: "AESI", ReportKind.PREGNANCY: "PREG"}
OPENED = {
    ReportKind.SAE: "safety.sae_report_opened",
    ReportKind.AESI: "safety.aesi_report_opened",
    ReportKind.PREGNANCY: "safety.pregnancy_report_opened",
}


def _next_reference(study: Study, kind: str = ReportKind.SAE) -> str:
    # Counted by prefix, not kind: an AESI that turns serious keeps its AESI reference.
    prefix = f"{study.identifier}-{PREFIXES[ReportKind(kind)]}-"
    count = SaeReport.objects.filter(study=study, reference__startswith=prefix).count()
    return f"{prefix}{count + 1:04d}"


def _audit(report: SaeReport, entry: AuditEntry, context: WriteContext | None) -> None:
    if context is not None:
        context.audit.append(entry)
    else:
        audit_record(
            actor=SystemActor(label="carnet"),
            action=entry.action,
            target=entry.target,
            new=entry.new,
            chain=report.study.audit_chain,
        )


def _already_open(
    existing: SaeReport, kind: str, aesi: bool, context: WriteContext | None
) -> SaeReport:
    """An AESI reported first that turns serious becomes an SAE (its 24 hours run from this
    save); an SAE found to be of special interest is flagged."""
    target = ("sae_report", existing.reference)
    if kind == ReportKind.SAE and existing.kind == ReportKind.AESI:
        existing.kind = ReportKind.SAE
        existing.aware_at = utc_now()
        existing.site_limit_hours = 24
        existing.save(update_fields=["kind", "aware_at", "site_limit_hours"])
        _audit(existing, AuditEntry("safety.aesi_became_sae", target, new={"kind": "sae"}), context)
    if aesi and not existing.aesi:
        existing.aesi = True
        existing.save(update_fields=["aesi"])
        _audit(
            existing, AuditEntry("safety.report_flagged_aesi", target, new={"aesi": True}), context
        )
    return existing


def sae_report_open(
    *,
    instance: FormInstance,
    row: int,
    context: WriteContext | None = None,
    kind: str = ReportKind.SAE,
    aesi: bool = False,
    limit_hours: int = 24,
) -> SaeReport:
    """Open the report of an adverse event (one form instance row) or of a pregnancy (its
    form), once: a second call returns the report already opened (an AESI turning serious
    becomes an SAE). Its first version holds the casebook's data."""
    existing = SaeReport.objects.filter(form_instance=instance, row=row).first()
    if existing is not None:
        return _already_open(existing, kind, aesi, context)
    subject = instance.subject
    # Numbers are per study: two serious saves at once wait here rather than take one number.
    Study.objects.select_for_update().filter(pk=subject.study_id).first()
    now = utc_now()
    report = SaeReport.objects.create(
        study=subject.study,
        subject=subject,
        form_instance=instance,
        row=row,
        reference=_next_reference(subject.study, kind),
        kind=kind,
        aesi=aesi or kind == ReportKind.AESI,
        aware_at=now,
        site_limit_hours=24 if kind == ReportKind.SAE else limit_hours,
    )
    SaeReportVersion.objects.create(
        report=report,
        number=1,
        content=case_content(instance, row, narrative="", kind=kind),
        created_by="carnet",
        created_at=now,
    )
    entry = AuditEntry(
        action=OPENED[ReportKind(kind)],
        target=("sae_report", report.reference),
        new={"subject": subject.identifier, "form": instance.form, "row": row},
    )
    _audit(report, entry, context)
    return report


def _require_site_reporter(actor: User, report: SaeReport) -> None:
    require(actor, Action.REPORT_SAFETY, study=report.study, site=report.subject.site)
    if not may(actor, Action.SIGN_DATA, study=report.study, site=report.subject.site):
        raise PermissionDenied(_("Only an investigator of the subject's site may do this."))


def _draft(report: SaeReport) -> SaeReportVersion | None:
    return report.versions.filter(sent_at__isnull=True).order_by("-number").first()


@transaction.atomic
def sae_version_prepare(
    *, actor: User, report: SaeReport, narrative: str, follow_up: bool | None = None
) -> SaeReportVersion:
    """Refresh the unsent version (or open a follow-up) from the casebook, with the
    investigator's narrative; return it. ``follow_up`` True asks for a new version (refused
    while one is unsent), False for the unsent one (refused when all are sent); None takes
    whichever there is (the page)."""
    _require_site_reporter(actor, report)
    version = _draft(report)
    if follow_up is True and version is not None:
        raise ValidationError(
            _("Version %(number)s is not sent yet: sign it before opening a follow-up.")
            % {"number": version.number}
        )
    if follow_up is False and version is None:
        raise ValidationError(_("Every version is sent: open a follow-up."))
    content = case_content(
        report.form_instance, report.row, narrative=narrative.strip(), kind=report.kind
    )
    if version is None:
        last = report.versions.order_by("-number").first()
        number = 1 if last is None else last.number + 1
        version = SaeReportVersion(report=report, number=number, created_at=utc_now())
    version.content = content
    version.narrative = narrative.strip()
    version.created_by = _label(actor)
    version.save()
    audit_record(
        actor=actor,
        action="safety.sae_version_prepared",
        target=("sae_report", report.reference),
        new={"version": version.number, "narrative": version.narrative},
        chain=report.study.audit_chain,
    )
    return version


def _tell_pharmacovigilance(report: SaeReport, version: SaeReportVersion) -> None:
    words = {
        "study": report.study.identifier,
        "reference": report.reference,
        "subject": report.subject.identifier,
        "number": version.number,
    }
    for recipient in site_members(
        study=report.study, site=report.subject.site_id, roles=(Role.PHARMACOVIGILANCE,)
    ):
        language = recipient_language(recipient)
        with translation.override(language):
            kind = _("initial report") if version.number == 1 else _("follow-up report")
            if report.kind == ReportKind.PREGNANCY:
                title = _("%(study)s: pregnancy report %(reference)s, version %(number)s") % words
                signed = _(
                    "The investigator signed the %(kind)s of pregnancy %(reference)s "
                    "(subject %(subject)s)."
                )
            elif report.kind == ReportKind.AESI:
                title = _("%(study)s: AESI report %(reference)s, version %(number)s") % words
                signed = _(
                    "The investigator signed the %(kind)s of adverse event of special interest "
                    "%(reference)s (subject %(subject)s)."
                )
            else:
                title = _("%(study)s: SAE report %(reference)s, version %(number)s") % words
                signed = _(
                    "The investigator signed the %(kind)s of serious adverse event "
                    "%(reference)s (subject %(subject)s)."
                )
            body = "\n".join(
                [
                    signed % {**words, "kind": kind},
                    _("Open it in Carnet to assess it; this message holds no data of the case."),
                ]
            )
        message_send(recipient=recipient, subject=title, body=body, language=language)


def sae_version_sign(
    *,
    actor: User,
    report: SaeReport,
    password: str,
    meaning: str,
    totp_code: str = "",
    narrative: str | None = None,
) -> SaeReportVersion:
    """Sign the unsent version as the investigator and send it to pharmacovigilance; a report
    sent after its limit (24 hours for an SAE) is flagged late. A ``narrative`` given here
    replaces the version's before it is signed (the casebook's data stay as prepared: the
    investigator signs what was shown)."""
    _require_site_reporter(actor, report)
    version = _draft(report)
    if version is None:
        raise ValidationError(_("There is no version to sign: prepare a follow-up first."))
    if narrative is not None:
        version.narrative = narrative.strip()
        version.content = {**version.content, "narrative": version.narrative}
    signature = signature_apply(
        signer=actor,
        password=password,
        totp_code=totp_code,
        meaning=meaning,
        study=report.study,
        record_type="sae_report_version",
        record_id=f"{report.reference}/{version.number}",
        content=version.content,
    )
    with transaction.atomic():
        now = utc_now()
        version.signature = signature
        version.signed_at = now
        version.sent_at = now
        # The first version sent since awareness answers the clock (for an AESI that turned
        # serious, the first one sent since it did).
        first = not report.versions.filter(sent_at__gte=report.aware_at).exists()
        version.late = first and clocks.site_late(report.aware_at, now, report.site_limit_hours)
        version.save()
        if version.number == 1 and report.sponsor_aware_on is None:
            report.sponsor_aware_on = now.date()
            report.save(update_fields=["sponsor_aware_on"])
        audit_record(
            actor=actor,
            action="safety.sae_version_sent",
            target=("sae_report", report.reference),
            new={"version": version.number, "late": version.late, "signature": signature.pk},
            chain=report.study.audit_chain,
        )
        _tell_pharmacovigilance(report, version)
    return version


def _require_pharmacovigilance(actor: User, study: Study) -> None:
    if not holds_pharmacovigilance(actor, study):
        raise PermissionDenied(_("Only the study's pharmacovigilance may do this."))


def rsi_in_force(study: Study, on: date | None) -> ReferenceSafetyInformation | None:
    """Return the reference safety information in force on a date (the latest from before)."""
    if on is None:
        return None
    return (
        ReferenceSafetyInformation.objects.filter(study=study, effective_from__lte=on)
        .order_by("-effective_from")
        .first()
    )


@transaction.atomic
def rsi_add(
    *,
    actor: User | SystemActor,
    study: Study,
    version: str,
    effective_from: date,
    expected_terms: list[str],
) -> ReferenceSafetyInformation:
    """Add a version of the study's reference safety information; return it (pharmacovigilance,
    the study's managers, or an administrator on the server's command line)."""
    if isinstance(actor, SystemActor):
        pass
    elif not (
        holds_pharmacovigilance(actor, study) or may(actor, Action.MANAGE_STUDY, study=study)
    ):
        raise PermissionDenied(_("Only pharmacovigilance or the study's managers may do this."))
    version = version.strip()
    terms = sorted({t.strip() for t in expected_terms if t.strip()}, key=str.lower)
    if not version:
        raise ValidationError(_("Give the version of the reference safety information."))
    if ReferenceSafetyInformation.objects.filter(study=study, version=version).exists():
        raise ValidationError(_("This version of the reference safety information exists."))
    if ReferenceSafetyInformation.objects.filter(
        study=study, effective_from=effective_from
    ).exists():
        raise ValidationError(_("Another version takes effect on that date."))
    rsi = ReferenceSafetyInformation.objects.create(
        study=study,
        version=version,
        effective_from=effective_from,
        expected_terms=terms,
        added_by=_label(actor),
        added_at=utc_now(),
    )
    audit_record(
        actor=actor,
        action="safety.rsi_added",
        target=("rsi", version),
        new={"effective_from": effective_from.isoformat(), "expected_terms": terms},
        chain=study.audit_chain,
    )
    return rsi


def latest_sent(report: SaeReport) -> SaeReportVersion | None:
    return report.versions.filter(sent_at__isnull=False).order_by("-number").first()


def _onset(content: dict[str, Any]) -> date | None:
    text = field_text(content, "onset")
    try:
        return date.fromisoformat(text[:10]) if len(text) >= 10 else None
    except ValueError:
        return None


def _investigator_causality(content: dict[str, Any]) -> int | None:
    text = content.get("adverse_event", {}).get("causality", {}).get("text", "")
    return int(text) if str(text).isdigit() else None


def _fatal_or_life_threatening(content: dict[str, Any]) -> bool:
    event = content.get("adverse_event", {})
    if is_yes(event.get("death")) or is_yes(event.get("life_threatening")):
        return True
    return field_text(content, "outcome").strip().lower() == "fatal"


def _causality_checked(sponsor: int, investigator: int | None) -> None:
    if sponsor not in CAUSALITY:
        raise AssessmentRefused("causality", _("Choose a causality from the scale."))
    if investigator is not None and sponsor < investigator:
        raise AssessmentRefused(
            "downgrade",
            _(
                "The sponsor may upgrade the investigator's causality, never downgrade it: "
                "the investigator assessed %(investigator)s, the sponsor chose %(sponsor)s."
            )
            % {
                "investigator": _(CAUSALITY.get(investigator, str(investigator))),
                "sponsor": _(CAUSALITY[sponsor]),
            },
        )


@transaction.atomic
def sae_assess(
    *,
    actor: User,
    report: SaeReport,
    causality: int,
    expected: bool | None = None,
    comment: str = "",
) -> SaeReport:
    """Record pharmacovigilance's assessment of the latest sent version: causality (never
    below the investigator's), expectedness against the RSI in force at onset (computed from
    its expected terms unless given) and, for a SUSAR, its clock from the sponsor's awareness."""
    _require_pharmacovigilance(actor, report.study)
    if report.kind == ReportKind.PREGNANCY:
        raise AssessmentRefused(
            "pregnancy",
            _("A pregnancy is not assessed for causality: an adverse event of it is, on its own."),
        )
    version = latest_sent(report)
    if version is None:
        raise AssessmentRefused("unsent", _("The investigator has not sent this report yet."))
    content = version.content
    investigator = _investigator_causality(content)
    _causality_checked(causality, investigator)
    rsi = rsi_in_force(report.study, _onset(content))
    if expected is None:
        if rsi is None:
            raise AssessmentRefused(
                "no_rsi",
                _("No reference safety information is in force on the onset date: add it first."),
            )
        term = field_text(content, "term").strip().lower()
        expected = term in {t.lower() for t in rsi.expected_terms}
    old = {
        "causality": report.sponsor_causality,
        "expected": report.expected,
        "susar": report.susar,
    }
    report.investigator_causality = investigator
    report.sponsor_causality = causality
    report.expected = expected
    report.rsi = rsi
    # A SUSAR is serious: a non-serious AESI is assessed, never a SUSAR.
    report.susar = report.kind == ReportKind.SAE and causality >= POSSIBLE and not expected
    report.fatal_or_life_threatening = _fatal_or_life_threatening(content)
    report.assessed_by = _label(actor)
    report.assessed_at = utc_now()
    report.assessment_comment = comment.strip()
    if report.susar:
        clock = clocks.susar_clock(
            report.sponsor_aware_on or version.sent_at.date(),  # type: ignore[union-attr]
            fatal_or_life_threatening=report.fatal_or_life_threatening,
        )
        report.susar_due_on, report.follow_up_due_on = clock.due_on, clock.follow_up_due_on
    else:
        report.susar_due_on = report.follow_up_due_on = None
    report.save()
    audit_record(
        actor=actor,
        action="safety.sae_assessed",
        target=("sae_report", report.reference),
        old=old,
        new={
            "causality": causality,
            "investigator_causality": investigator,
            "expected": expected,
            "rsi": rsi.version if rsi else None,
            "susar": report.susar,
            "due_on": report.susar_due_on.isoformat() if report.susar_due_on else None,
        },
        chain=report.study.audit_chain,
    )
    return report


@transaction.atomic
def susar_reported(
    *, actor: User, report: SaeReport, on: date, follow_up: bool = False
) -> SaeReport:
    """Record the day the SUSAR (or its follow-up) went to EudraVigilance: its clock stops."""
    _require_pharmacovigilance(actor, report.study)
    if not report.susar:
        raise ValidationError(_("This case is not a SUSAR."))
    field = "follow_up_reported_on" if follow_up else "susar_reported_on"
    setattr(report, field, on)
    report.save(update_fields=[field])
    audit_record(
        actor=actor,
        action="safety.susar_reported",
        target=("sae_report", report.reference),
        new={field: on.isoformat()},
        chain=report.study.audit_chain,
    )
    return report


def susar_unblind(*, actor: User, report: SaeReport, reason: str) -> str:
    """Reveal the subject's arm to pharmacovigilance for this SUSAR; return the arm."""
    if not report.susar:
        raise ValidationError(_("Only a SUSAR is unblinded for pharmacovigilance."))
    return pharmacovigilance_unblind(
        actor=actor, subject=report.subject, reason=reason, case_reference=report.reference
    )


@transaction.atomic
def reconciliation_resolve(
    *,
    actor: User,
    report: SaeReport,
    field: str,
    safety_value: str,
    clinical_value: str,
    reason: str,
) -> ReconciliationDecision:
    """Close a difference between the report and the casebook with a reason."""
    _require_reconciler(actor, report)
    reason = reason.strip()
    if not reason:
        raise ValidationError(_("Give the reason the difference is accepted."))
    return _decide(actor, report, field, safety_value, clinical_value, reason=reason)


def _require_reconciler(actor: User, report: SaeReport) -> None:
    if not (
        holds_pharmacovigilance(actor, report.study)
        or may(actor, Action.MANAGE_DATA, study=report.study, site=report.subject.site)
    ):
        raise PermissionDenied(_("Only pharmacovigilance or data management may reconcile."))


def _decide(
    actor: User,
    report: SaeReport,
    field: str,
    safety_value: str,
    clinical_value: str,
    *,
    reason: str = "",
    query_id: int | None = None,
) -> ReconciliationDecision:
    decision = ReconciliationDecision.objects.create(
        report=report,
        field=field,
        safety_value=safety_value,
        clinical_value=clinical_value,
        outcome=ReconciliationDecision.Outcome.QUERY
        if query_id
        else ReconciliationDecision.Outcome.RESOLVED,
        reason=reason,
        query_id=query_id,
        decided_by=_label(actor),
        decided_at=utc_now(),
    )
    audit_record(
        actor=actor,
        action="safety.reconciliation_decided",
        target=("sae_report", report.reference),
        new={"field": field, "outcome": decision.outcome, "reason": reason, "query": query_id},
        chain=report.study.audit_chain,
    )
    return decision


@transaction.atomic
def reconciliation_query(
    *, actor: User, report: SaeReport, field: str, safety_value: str, clinical_value: str, text: str
) -> ReconciliationDecision:
    """Turn a difference into a query to the site on the adverse event's form."""
    from carnet.quality.services import query_raise

    _require_reconciler(actor, report)
    query = query_raise(
        actor=actor,
        subject=report.subject,
        form_instance=report.form_instance,
        text=text,
    )
    return _decide(actor, report, field, safety_value, clinical_value, query_id=query.pk)


def criteria_of(content: dict[str, Any]) -> list[str]:
    """Return the seriousness criteria met (keys of CRITERIA)."""
    event = content.get("adverse_event", {})
    return [name for name in CRITERIA if is_yes(event.get(name))]
