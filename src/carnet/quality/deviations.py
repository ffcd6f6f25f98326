"""Protocol deviations: derived from the study's deviation checks, declared by people, reviewed
by the data manager. Every change is audited on the study's chain.

A derived deviation is recorded once per form instance and check, by a listener of capture's
save pipeline (capture knows nothing of it). When its check clears, the deviation is marked
resolved, never deleted: it happened. When the check fires again, the same deviation is open
again. Only the data manager's review decides the class and category that count.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from carnet.accounts.models import User
from carnet.accounts.permissions import PermissionDenied, may, require
from carnet.accounts.roles import Action
from carnet.audit.services import Actor, AuditEntry, SystemActor, audit_record
from carnet.capture.models import CheckResult
from carnet.capture.seams import WriteContext, register_save_listener
from carnet.core.clock import utc_now
from carnet.core.errors import ValidationError
from carnet.quality.deviation_models import (
    Deviation,
    DeviationClass,
    DeviationOrigin,
    DeviationStatus,
)
from carnet.studies.definition.model import (
    STANDARD_DEVIATION_CATEGORIES,
    Check,
    Label,
    StudyDefinition,
)
from carnet.studies.models import Study
from carnet.subjects.models import Subject
from carnet.subjects.services import site_today

# Who may declare a deviation at a subject's site: its own staff, its monitor, data management.
DECLARING_ACTIONS = (Action.ENTER_DATA, Action.MONITOR, Action.MANAGE_DATA)
DESCRIPTION_MAX = 4000


class DeviationRefused(ValidationError):
    """A declaration or review is refused: ``field: why``, as the other services' refusals.

    The field's name stays outside the translated text: API clients read it, and the pages put
    ``why`` next to the field, whatever the language."""

    def __init__(self, why: str, *, field: str) -> None:
        super().__init__(f"{field}: {why}")
        self.field = field
        self.why = why


def _deviation_checks(definition: StudyDefinition, form_name: str) -> dict[str, Check]:
    """Return the form's checks that record a deviation, by name."""
    form = next((f for f in definition.forms if f.name == form_name), None)
    if form is None:
        return {}
    return {check.name: check for check in form.checks if check.deviation}


def _name(actor: Actor) -> str:
    """Return who wrote, as the register shows it (a command or the worker by its label)."""
    return actor.label if isinstance(actor, SystemActor) else actor.get_username()


def _snapshot(deviation: Deviation) -> dict[str, Any]:
    """Return what the audit trail keeps of a deviation's state."""
    return {
        "subject": deviation.subject.identifier,
        "origin": deviation.origin,
        "check": deviation.check_name,
        "occurred_on": deviation.occurred_on.isoformat(),
        "class": deviation.deviation_class,
        "category": deviation.category,
        "status": deviation.status,
        "resolved": deviation.resolved,
    }


def deviations_on_save(context: WriteContext) -> None:
    """Record, resolve or reopen the derived deviations of the written form (a save listener).

    Reads the form's open check results as the save left them, so it works alike for a save,
    "not done", a reopen, an import: what fires has a deviation, what cleared is resolved.
    """
    instance = context.form_instance
    checks = _deviation_checks(instance.study_version.parsed(), instance.form)
    if not checks or context.new_form_without_checks():
        return  # most forms have no deviation check; a new form without open checks has none
    fired = {
        result.check_name: result
        for result in CheckResult.objects.filter(
            form_instance=instance, open=True, check_name__in=list(checks)
        )
    }
    recorded = {
        deviation.check_name: deviation
        for deviation in Deviation.objects.select_for_update().filter(
            form_instance=instance, origin=DeviationOrigin.DERIVED, check_name__in=list(checks)
        )
    }
    for name, result in fired.items():
        deviation = recorded.get(name)
        if deviation is None:
            _derived_record(context, checks[name], result)
        elif deviation.resolved or deviation.check_result_id != result.pk:
            _derived_reopen(context, deviation, result)
    for name, deviation in recorded.items():
        if name not in fired and not deviation.resolved:
            _derived_resolve(context, deviation)


def _derived_record(context: WriteContext, check: Check, result: CheckResult) -> None:
    subject = context.subject
    deviation = Deviation.objects.create(
        study=subject.study,
        subject=subject,
        origin=DeviationOrigin.DERIVED,
        form_instance=context.form_instance,
        check_name=check.name,
        check_result=result,
        description=result.message_en,
        description_fr=result.message_fr,
        occurred_on=context.today,
        deviation_class=check.deviation_class,
        category=check.deviation_category,
        declared_by=_name(context.actor),
    )
    context.audit.append(
        AuditEntry(action="deviation.derived", target=deviation, new=_snapshot(deviation))
    )


def _derived_reopen(context: WriteContext, deviation: Deviation, result: CheckResult) -> None:
    was_resolved = deviation.resolved
    old = _snapshot(deviation)
    deviation.check_result = result
    deviation.resolved = False
    deviation.resolved_at = None
    deviation.save(update_fields=["check_result", "resolved", "resolved_at"])
    if was_resolved:  # a new result of a check still open needs no event
        context.audit.append(
            AuditEntry(
                action="deviation.reopened", target=deviation, old=old, new=_snapshot(deviation)
            )
        )


def _derived_resolve(context: WriteContext, deviation: Deviation) -> None:
    old = _snapshot(deviation)
    deviation.resolved = True
    deviation.resolved_at = utc_now()
    deviation.save(update_fields=["resolved", "resolved_at"])
    context.audit.append(
        AuditEntry(
            action="deviation.resolved",
            target=deviation,
            old=old,
            new=_snapshot(deviation),
            reason=context.reason,
        )
    )


def register_deviations() -> None:
    """Take part in capture's writes (called once from QualityConfig.ready)."""
    register_save_listener(deviations_on_save)


def deviation_categories(study: Study) -> dict[str, Label]:
    """Return the study's deviation categories (standard ones first) with their labels."""
    version = study.current_version
    if version is None:
        return {name: Label(en, fr) for name, en, fr in STANDARD_DEVIATION_CATEGORIES}
    return version.parsed().deviation_category_labels()


def _classification_check(study: Study, deviation_class: str, category: str) -> None:
    """Refuse an unknown class or category, naming the field."""
    if deviation_class not in DeviationClass.values:
        raise DeviationRefused(
            _("%(value)s is not a deviation class (major or minor).")
            % {"value": repr(deviation_class)},
            field="deviation_class",
        )
    categories = deviation_categories(study)
    if category not in categories:
        raise DeviationRefused(
            _("%(value)s is not a deviation category of this study (%(known)s).")
            % {"value": repr(category), "known": ", ".join(categories)},
            field="category",
        )


@transaction.atomic
def deviation_declare(
    *,
    actor: User,
    subject: Subject,
    description: str,
    occurred_on: date,
    deviation_class: str,
    category: str,
) -> Deviation:
    """Record a deviation declared by the site, a monitor or the data manager."""
    study = subject.study
    if not any(may(actor, a, study=study, site=subject.site) for a in DECLARING_ACTIONS):
        raise PermissionDenied(
            _("You may not declare deviations at site %(site)s.") % {"site": subject.site.code}
        )
    description = description.strip()
    if not description:
        raise DeviationRefused(_("Describe the deviation."), field="description")
    if len(description) > DESCRIPTION_MAX:
        raise DeviationRefused(
            _("The description is longer than %(max)d characters.") % {"max": DESCRIPTION_MAX},
            field="description",
        )
    today = site_today(subject.site)
    if occurred_on > today:
        raise DeviationRefused(
            _("%(date)s is in the future (today is %(today)s at site %(site)s).")
            % {
                "date": occurred_on.isoformat(),
                "today": today.isoformat(),
                "site": subject.site.code,
            },
            field="occurred_on",
        )
    _classification_check(study, deviation_class, category)
    deviation = Deviation.objects.create(
        study=study,
        subject=subject,
        origin=DeviationOrigin.DECLARED,
        description=description,
        occurred_on=occurred_on,
        deviation_class=deviation_class,
        category=category,
        declared_by=actor.get_username(),
    )
    audit_record(
        actor=actor,
        action="deviation.declared",
        target=deviation,
        new={**_snapshot(deviation), "description": description},
        chain=study.audit_chain,
    )
    return deviation


@transaction.atomic
def deviation_review(
    *,
    actor: User,
    deviation: Deviation,
    decision: str,
    reason: str = "",
    deviation_class: str | None = None,
    category: str | None = None,
) -> Deviation:
    """Confirm a deviation (with its class and category, changed or not) or reject it with a
    reason: the data manager's review. A reviewed deviation may be reviewed again."""
    deviation = (
        Deviation.objects.select_for_update()
        .select_related("subject", "subject__site", "study")
        .get(pk=deviation.pk)
    )
    study = deviation.study
    require(actor, Action.MANAGE_DATA, study=study, site=deviation.subject.site)
    reason = reason.strip()
    if decision not in (DeviationStatus.CONFIRMED, DeviationStatus.REJECTED):
        raise DeviationRefused(
            _("%(value)s is not a review decision (confirmed or rejected).")
            % {"value": repr(decision)},
            field="decision",
        )
    if decision == DeviationStatus.REJECTED and not reason:
        raise DeviationRefused(_("Say why the deviation is rejected."), field="reason")
    new_class = deviation_class or deviation.deviation_class
    new_category = category or deviation.category
    _classification_check(study, new_class, new_category)
    changed = (new_class, new_category) != (deviation.deviation_class, deviation.category)
    if changed and not reason:
        raise DeviationRefused(
            _("Say why the class or category changes."),
            field="reason",
        )
    old = _snapshot(deviation)
    deviation.status = decision
    deviation.deviation_class = new_class
    deviation.category = new_category
    deviation.reviewed_by = actor.get_username()
    deviation.reviewed_at = utc_now()
    deviation.review_reason = reason
    deviation.save()
    audit_record(
        actor=actor,
        action="deviation.reviewed",
        target=deviation,
        old=old,
        new=_snapshot(deviation),
        reason=reason,
        chain=study.audit_chain,
    )
    return deviation
