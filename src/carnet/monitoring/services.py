"""Monitoring writes: the study's monitoring plan, source data verification (one item, a form, a
visit or a whole casebook in one action), its reset by a change of the verified data (the save
listener), and monitoring visits. Every one of them is an audit event of the study's chain."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from carnet.accounts.models import StudySite, User
from carnet.accounts.permissions import Actor, PermissionDenied, require
from carnet.accounts.roles import Action
from carnet.audit.services import Actor as AuditActor
from carnet.audit.services import AuditEntry, audit_record
from carnet.capture.seams import WriteContext, WriteKind
from carnet.core.clock import utc_now
from carnet.core.errors import ValidationError
from carnet.monitoring.models import MonitoringPlan, MonitoringVisit, PlanRule, SourceVerification
from carnet.monitoring.selectors import open_visit_of, values_in_place
from carnet.studies.models import Study
from carnet.subjects.models import Subject
from carnet.subjects.services import site_today


def _label(actor: Actor | AuditActor) -> str:
    if isinstance(actor, User):
        return actor.display_name()
    return str(getattr(actor, "label", ""))


def _require(actor: Actor, action: Action, *, study: Study, site: StudySite | None = None) -> None:
    # A command run on the server (a system actor) acts for the installation's administrators.
    if isinstance(actor, User):
        require(actor, action, study=study, site=site)


# --- the plan ------------------------------------------------------------------------------------


@transaction.atomic
def monitoring_plan_set(
    *,
    actor: Actor,
    study: Study,
    rule: str,
    first_patients: int = 3,
    share_percent: int = 20,
    seed: str = "carnet",
) -> MonitoringPlan:
    """Set which data the study's monitors verify (data managers; audited with the old plan)."""
    _require(actor, Action.MANAGE_STUDY, study=study)
    if rule not in PlanRule.values:
        raise ValidationError(_("rule: choose all, critical, first_patients or random_share."))
    if first_patients < 1 and rule == PlanRule.FIRST_PATIENTS:
        raise ValidationError(_("first_patients: give at least 1 patient per site."))
    if not 1 <= share_percent <= 100 and rule == PlanRule.RANDOM_SHARE:
        raise ValidationError(_("share_percent: give a share between 1 and 100."))
    seed = seed.strip() or "carnet"
    plan = MonitoringPlan.objects.select_for_update().filter(study=study).first()
    old = _plan_record(plan) if plan else None
    if plan is None:
        plan = MonitoringPlan(study=study)
    plan.rule = rule
    plan.first_patients = first_patients
    plan.share_percent = share_percent
    plan.seed = seed[:64]
    plan.updated_by = _label(actor)
    plan.updated_at = utc_now()
    plan.save()
    audit_record(
        actor=actor,
        action="monitoring.plan_set",
        target=plan,
        old=old,
        new=_plan_record(plan),
        chain=study.audit_chain,
    )
    return plan


def _plan_record(plan: MonitoringPlan) -> dict[str, Any]:
    return {
        "rule": plan.rule,
        "first_patients": plan.first_patients,
        "share_percent": plan.share_percent,
        "seed": plan.seed,
    }


# --- source data verification --------------------------------------------------------------------


@transaction.atomic
def sdv_verify(
    *,
    actor: Actor,
    subject: Subject,
    event: str = "",
    occurrence: int | None = None,
    form: str = "",
    repeat: int | None = None,
    item: str = "",
    row: int | None = None,
    visit: MonitoringVisit | None = None,
) -> list[SourceVerification]:
    """Verify against the source every entered value of a place not yet verified: one item, a
    form, a visit (event and occurrence) or the whole casebook, in one action (monitors of the
    subject's site; one audit event listing the items). The SDV joins ``visit`` or, by
    default, the monitor's open monitoring visit at the site."""
    study = subject.study
    _require(actor, Action.MONITOR, study=study, site=subject.site)
    if form and not event:
        raise ValidationError(_("Name the visit (event and occurrence) of the form."))
    if item and not form:
        raise ValidationError(_("Name the form of the item."))
    if visit is None and isinstance(actor, User):
        visit = open_visit_of(actor, subject.site)
    if visit is not None and (not visit.is_open or visit.site_id != subject.site_id):
        raise ValidationError(_("This monitoring visit is closed or at another site."))
    values = list(
        values_in_place(
            subject,
            event=event,
            occurrence=occurrence,
            form=form,
            repeat=repeat,
            item=item,
            row=row,
        )
    )
    if not values:
        raise ValidationError(_("There is nothing entered here left to verify."))
    now = utc_now()
    label = _label(actor)
    created = SourceVerification.objects.bulk_create(
        SourceVerification(
            study=study,
            site=subject.site,
            subject=subject,
            form_instance=value.form_instance,
            item_value=value,
            item=value.item,
            row=value.row,
            verified_by=actor if isinstance(actor, User) else None,
            verified_by_name=label,
            verified_at=now,
            visit=visit,
        )
        for value in values
    )
    if visit is not None:
        visit.subjects.add(subject)
    audit_record(
        actor=actor,
        action="sdv.verified",
        target=subject,
        new={
            "place": _place_name(subject, event, occurrence, form, repeat, item, row),
            "items": [_value_place(value) for value in values],
            "visit": visit.pk if visit else None,
        },
        chain=study.audit_chain,
    )
    return created


def _place_name(
    subject: Subject,
    event: str,
    occurrence: int | None,
    form: str,
    repeat: int | None,
    item: str,
    row: int | None,
) -> str:
    """Return "01-001", "01-001 baseline#1", "01-001 baseline#1 vitals" or "… vitals weight"."""
    name = subject.identifier
    if event:
        name += f" {event}#{occurrence or 1}"
    if form:
        name += f" {form}" + (f"#{repeat}" if repeat and repeat > 1 else "")
    if item:
        name += f" {item}" + (f"[{row}]" if row else "")
    return name


def _value_place(value: Any) -> str:
    instance = value.form_instance
    repeat = f"#{instance.repeat}" if instance.repeat > 1 else ""
    row = f"[{value.row}]" if value.row else ""
    return f"{instance.event}#{instance.occurrence} {instance.form}{repeat} {value.item}{row}"


def sdv_reset_on_change(context: WriteContext) -> None:
    """The save listener: a change of a verified value resets its SDV (a form marked not done
    resets the whole form's), audited with the change's reason."""
    if not _may_reset(context) or context.form_created:
        return  # no value of a form this write created can have been verified
    in_force = SourceVerification.objects.filter(
        form_instance=context.form_instance, reset_at=None
    ).select_for_update()
    _reset(context, list(in_force))


def sdv_reset_on_change_many(contexts: Sequence[WriteContext]) -> None:
    """The listener's set-wise form (the bulk path): one read finds the verified values of
    every changed form instance; each write then resets its own as the listener would."""
    concerned = [c for c in contexts if _may_reset(c) and not c.form_created]
    if not concerned:
        return
    by_instance: dict[int, list[SourceVerification]] = defaultdict(list)
    for verification in SourceVerification.objects.filter(
        form_instance_id__in={context.form_instance.pk for context in concerned}, reset_at=None
    ).select_for_update():
        by_instance[verification.form_instance_id].append(verification)
    for context in concerned:
        if by_instance.get(context.form_instance.pk):
            _reset(context, by_instance[context.form_instance.pk])


def _may_reset(context: WriteContext) -> bool:
    if context.kind == WriteKind.SAVE or context.kind == WriteKind.FILE:
        return bool(context.changes)
    return context.kind == WriteKind.NOT_DONE


def _reset(context: WriteContext, in_force: list[SourceVerification]) -> None:
    if context.kind == WriteKind.NOT_DONE:
        touched = in_force
    else:
        changed = {(change.item, change.row) for change in context.changes}
        touched = [v for v in in_force if (v.item, v.row) in changed]
    if not touched:
        return
    instance = context.form_instance
    now = utc_now()
    label = _label(context.actor)
    reason = context.reason or _("changed after verification")
    for verification in touched:
        verification.reset_at = now
        verification.reset_by = label
        verification.reset_reason = reason
    SourceVerification.objects.bulk_update(touched, ["reset_at", "reset_by", "reset_reason"])
    repeat = f"#{instance.repeat}" if instance.repeat > 1 else ""
    context.audit.append(
        AuditEntry(
            action="sdv.reset",
            target=context.subject,
            old={"verified_by": sorted({v.verified_by_name for v in touched})},
            new={
                "place": f"{context.subject.identifier} {instance.event}#{instance.occurrence} "
                f"{instance.form}{repeat}",
                "items": sorted(f"{v.item}[{v.row}]" if v.row else v.item for v in touched),
                "reset_by": label,
            },
            reason=context.reason,
        )
    )


# --- monitoring visits ---------------------------------------------------------------------------


def _visit_record(visit: MonitoringVisit) -> dict[str, Any]:
    return {
        "site": visit.site.code,
        "visit_date": visit.visit_date.isoformat(),
        "monitor": visit.monitor_name,
        "findings": visit.findings,
        "follow_up": visit.follow_up,
        "subjects": sorted(visit.subjects.values_list("identifier", flat=True)),
    }


def _subjects_of(study: Study, site: StudySite, identifiers: list[str]) -> list[Subject]:
    identifiers = [name.strip() for name in identifiers if name.strip()]
    found = list(Subject.objects.filter(study=study, site=site, identifier__in=identifiers))
    missing = sorted(set(identifiers) - {subject.identifier for subject in found})
    if missing:
        raise ValidationError(
            _("subjects: no subject %(subjects)s at this site.") % {"subjects": ", ".join(missing)}
        )
    return found


@transaction.atomic
def monitoring_visit_create(
    *,
    actor: User,
    study: Study,
    site: StudySite,
    visit_date: date,
    subjects: list[str] | None = None,
    findings: str = "",
    follow_up: str = "",
) -> MonitoringVisit:
    """Open a monitoring visit of a site (its monitors); the SDV they do there joins it."""
    require(actor, Action.MONITOR, study=study, site=site)
    if visit_date > site_today(site):
        raise ValidationError(_("visit_date: a monitoring visit cannot be dated in the future."))
    visit = MonitoringVisit.objects.create(
        study=study,
        site=site,
        monitor=actor,
        monitor_name=actor.display_name(),
        visit_date=visit_date,
        findings=findings.strip(),
        follow_up=follow_up.strip(),
        created_at=utc_now(),
    )
    visit.subjects.set(_subjects_of(study, site, subjects or []))
    audit_record(
        actor=actor,
        action="monitoring.visit_opened",
        target=visit,
        new=_visit_record(visit),
        chain=study.audit_chain,
    )
    return visit


def _own_open_visit(actor: User, visit: MonitoringVisit) -> MonitoringVisit:
    require(actor, Action.MONITOR, study=visit.study, site=visit.site)
    visit = (
        MonitoringVisit.objects.select_for_update(of=("self",))
        .select_related("site", "study")
        .get(pk=visit.pk)
    )
    if visit.monitor_id != actor.pk:
        raise PermissionDenied(_("Only the monitor of this visit may change it."))
    if not visit.is_open:
        raise ValidationError(_("This monitoring visit is closed; its report is final."))
    return visit


@transaction.atomic
def monitoring_visit_update(
    *,
    actor: User,
    visit: MonitoringVisit,
    findings: str,
    follow_up: str,
    subjects: list[str] | None = None,
) -> MonitoringVisit:
    """Record the findings, follow-up actions and subjects reviewed of an open visit (audited)."""
    visit = _own_open_visit(actor, visit)
    old = _visit_record(visit)
    visit.findings = findings.strip()
    visit.follow_up = follow_up.strip()
    visit.save(update_fields=["findings", "follow_up"])
    if subjects is not None:
        visit.subjects.add(*_subjects_of(visit.study, visit.site, subjects))
    audit_record(
        actor=actor,
        action="monitoring.visit_updated",
        target=visit,
        old=old,
        new=_visit_record(visit),
        chain=visit.study.audit_chain,
    )
    return visit


@transaction.atomic
def monitoring_visit_close(*, actor: User, visit: MonitoringVisit) -> MonitoringVisit:
    """Close a visit: its report is final and later SDV no longer joins it (audited)."""
    visit = _own_open_visit(actor, visit)
    visit.closed_at = utc_now()
    visit.save(update_fields=["closed_at"])
    audit_record(
        actor=actor,
        action="monitoring.visit_closed",
        target=visit,
        new={**_visit_record(visit), "verified": visit.verifications.count()},
        chain=visit.study.audit_chain,
    )
    return visit
