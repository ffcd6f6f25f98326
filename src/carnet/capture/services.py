"""The save pipeline: the one way captured data changes, for pages, the API and imports.

validate each value -> compute calculated items -> apply branching -> evaluate edit checks ->
write values and audit events in one transaction. A save based on a stale version of the form
is refused with what changed since; changing a completed form needs a reason.
"""

from __future__ import annotations

import functools
import mimetypes
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext as _

from carnet.accounts.blinding import blinding_of
from carnet.accounts.models import User
from carnet.accounts.permissions import require
from carnet.accounts.roles import Action
from carnet.audit.services import AuditEntry, audit_record, audit_record_many
from carnet.capture.models import (
    CheckResult,
    Environment,
    FormInstance,
    FormStatus,
    ItemValue,
    StoredFile,
)
from carnet.capture.news import AFTER_DEATH_CHECK
from carnet.capture.rules import FormRules, Rule, StudyRules, study_rules
from carnet.capture.values import (
    EMPTY,
    Reading,
    ValueRefused,
    read_value,
    text_of_value,
    value_of_text,
)
from carnet.core.bulk import row_insert_unless_taken, rows_insert
from carnet.core.clock import utc_now
from carnet.core.errors import CarnetError, ValidationError
from carnet.core.hashing import sha256_hex
from carnet.expressions import EvaluationError, evaluate
from carnet.operations.system_settings import system_setting_value
from carnet.studies.definition.model import Item, StudyDefinition
from carnet.studies.models import Study, StudyMode
from carnet.subjects.models import Subject
from carnet.subjects.services import (
    entry_refusal,
    environment_refusal,
    site_today,
    subject_last_news_refresh,
)
from carnet.subjects.statuses import StudyStatus

P = ParamSpec("P")
R = TypeVar("R")
Key = tuple[str, int]  # (item name, row); row 0 outside repeating groups


@dataclass(frozen=True)
class Missing:
    """A missing-data code entered instead of a value (ND, NA, UNK…)."""

    code: str


class FormErrors(ValidationError):
    """The save is refused; ``errors`` maps each place (item, group[row].item, reason) to why."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{place}: {message}" for place, message in errors.items()))
        self.errors = errors


class FormConflict(CarnetError):
    """The form changed since the version the save was based on; ``changes`` says how."""

    def __init__(self, *, current_version: int, changes: list[dict[str, Any]]) -> None:
        super().__init__(
            _(
                "The form changed since you opened it (now version %(version)s): %(changes)s. "
                "Reload it, check the changes, and save again."
            )
            % {
                "version": current_version,
                "changes": ", ".join(
                    _("%(place)s by %(person)s") % {"place": c["place"], "person": c["by"]}
                    for c in changes[:10]
                ),
            }
        )
        self.current_version = current_version
        self.changes = changes


class FormVersionAhead(FormConflict):
    """The save names a version the form has not reached: it was not read from the form."""

    def __init__(self, *, sent: int, current_version: int) -> None:
        CarnetError.__init__(
            self,
            _(
                "You sent version %(sent)s of this form, but it is only at version %(version)s: "
                "send the version you read. Nothing was written."
            )
            % {"sent": sent, "version": current_version},
        )
        self.current_version = current_version
        self.changes = []


@dataclass
class SaveOutcome:
    form_instance: FormInstance
    changed: list[dict[str, Any]] = field(default_factory=list)
    soft_checks: list[CheckResult] = field(default_factory=list)
    hidden_kept: list[str] = field(default_factory=list)
    hidden: list[str] = field(default_factory=list)  # items branching hides, with a value or not
    # The instance's values (removed rows included) and open check results once saved: what an
    # answer shows without reading the form again.
    values: list[ItemValue] = field(default_factory=list)
    open_checks: list[CheckResult] = field(default_factory=list)


@dataclass
class _Cell:
    reading: Reading
    missing: str = ""
    removed: bool = False

    @property
    def empty(self) -> bool:
        return not self.reading.text and not self.missing


def _place(rules: FormRules, item: str, row: int) -> str:
    return f"{rules.group_of[item]}[{row}].{item}" if row else item


def _environment(study: Study) -> str:
    if study.mode == StudyMode.TEST:
        return Environment.TEST
    if study.mode == StudyMode.PRODUCTION:
        return Environment.PRODUCTION
    words = {
        StudyMode.DESIGN: _(
            "%(study)s is still in design: no data can be entered before test or production."
        ),
        StudyMode.FROZEN: _("%(study)s is frozen: its data cannot change."),
        StudyMode.LOCKED: _("%(study)s is locked: its data cannot change."),
    }
    raise ValidationError(words[StudyMode(study.mode)] % {"study": study.identifier})


def _form_rules(
    study: Study, event: str, occurrence: int, form: str, repeat: int
) -> tuple[StudyRules, FormRules]:
    version = study.current_version
    if version is None:
        raise ValidationError(
            _("%(study)s has no published version.") % {"study": study.identifier}
        )
    rules = study_rules(version)
    definition = rules.definition
    scheduled = next((e for e in definition.events if e.name == event), None)
    if scheduled is None:
        raise ValidationError(
            _("There is no event %(event)s in %(study)s.")
            % {"event": repr(event), "study": study.identifier}
        )
    if form not in scheduled.forms:
        raise ValidationError(
            _("The form %(form)s is not collected at %(event)s.")
            % {"form": repr(form), "event": repr(event)}
        )
    if occurrence < 1 or (occurrence > 1 and not scheduled.repeating):
        raise ValidationError(
            _("%(event)s happens once; occurrence %(occurrence)s does not exist.")
            % {"event": repr(event), "occurrence": occurrence}
        )
    if repeat < 1 or (repeat > 1 and not rules.forms[form].form.repeating):
        raise ValidationError(
            _("%(form)s is not a repeating form; instance %(repeat)s does not exist.")
            % {"form": repr(form), "repeat": repeat}
        )
    return rules, rules.forms[form]


def _code_list(definition: StudyDefinition, item: Item) -> Any:
    return definition.code_list(item.code_list) if item.code_list else None


def _read(
    definition: StudyDefinition,
    rules: FormRules,
    item_name: str,
    raw: Any,
    errors: dict[str, str],
    place: str,
) -> _Cell | None:
    item = rules.items.get(item_name)
    if item is None:
        errors[place] = _("%(form)s has no item %(item)s.") % {
            "form": repr(rules.form.name),
            "item": repr(item_name),
        }
        return None
    if isinstance(raw, Missing):
        codes = {code.code for code in definition.missing_codes}
        if raw.code not in codes:
            errors[place] = _("%(code)s is not a missing-data code of this study (%(codes)s).") % {
                "code": repr(raw.code),
                "codes": ", ".join(sorted(codes)),
            }
            return None
        return _Cell(EMPTY, missing=raw.code)
    try:
        return _Cell(read_value(item, raw, code_list=_code_list(definition, item)))
    except ValueRefused as refusal:
        errors[place] = str(refusal)
        return None


def _stored_cell(definition: StudyDefinition, rules: FormRules, value: ItemValue) -> _Cell:
    item = rules.items.get(value.item)
    typed = (
        value_of_text(item, value.text, code_list=_code_list(definition, item))
        if item
        else value.text
    )
    reading = Reading(text=value.text, value=typed, number=value.number, day=value.day)
    return _Cell(reading, missing=value.missing_code, removed=value.removed)


class _Context:
    """The values rules read: this form's state, and other forms of the subject on demand."""

    def __init__(
        self,
        instance: FormInstance,
        rules: StudyRules,
        form_rules: FormRules,
        state: dict[Key, _Cell],
    ) -> None:
        self.instance, self.rules, self.form_rules, self.state = instance, rules, form_rules, state
        self._others: dict[tuple[str, int, str], dict[Key, _Cell]] = {}

    def _other(self, event: str, occurrence: int, form: str) -> dict[Key, _Cell]:
        key = (event, occurrence, form)
        if key not in self._others:
            other = (
                FormInstance.objects.filter(
                    subject=self.instance.subject,
                    environment=self.instance.environment,
                    event=event,
                    occurrence=occurrence,
                    form=form,
                )
                .order_by("repeat")
                .first()
            )
            cells: dict[Key, _Cell] = {}
            if other is not None:
                other_rules = self.rules.forms[form]
                for value in other.values.filter(removed=False):
                    cells[(value.item, value.row)] = _stored_cell(
                        self.rules.definition, other_rules, value
                    )
            self._others[key] = cells
        return self._others[key]

    def _value_of(self, cells: dict[Key, _Cell], rules: FormRules, item: str) -> Any:
        if rules.group_of.get(item) in rules.repeating_groups:
            rows = sorted(
                (row, cell)
                for (name, row), cell in cells.items()
                if name == item and not cell.removed
            )
            return [cell.reading.value for _row, cell in rows]
        cell = cells.get((item, 0))
        return None if cell is None or cell.removed else cell.reading.value

    def values(self, rule: Rule) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for reference in rule.reads:
            form = self.rules.form_of_item.get(reference.name, "")
            current_event = reference.event is None or reference.event == self.instance.event
            if current_event and form == self.instance.form:
                found[reference.key] = self._value_of(self.state, self.form_rules, reference.name)
                continue
            event = reference.event or self.instance.event
            occurrence = self.instance.occurrence if event == self.instance.event else 1
            found[reference.key] = self._value_of(
                self._other(event, occurrence, form), self.rules.forms[form], reference.name
            )
        return found


def _evaluate(rule: Rule, context: _Context, today: Any) -> Any:
    try:
        return evaluate(rule.expression, context.values(rule), clock=lambda: today)
    except EvaluationError:
        return None  # a rule that cannot be evaluated on these values gives "unknown"


def _audit_text(item: Item, text: str) -> str:
    # Directly identifying values never enter the trail in clear.
    return f"sha256:{sha256_hex(text.encode())}" if item.identifying and text else text


def _changes_since(
    instance: FormInstance, version: int, rules: FormRules, actor: User
) -> list[dict[str, Any]]:
    """Return what changed in the form since a version, as the actor may see it: a conflict
    must not tell a blinded person what they could not read on the form."""
    blinding = blinding_of(actor, study=instance.subject.study)
    return [
        blinding.change(
            rules.items.get(v.item),
            {
                "place": _place(rules, v.item, v.row) if v.item in rules.items else v.item,
                "item": v.item,
                "row": v.row,
                "text": v.text,
                "missing": v.missing_code,
                "removed": v.removed,
                "by": v.updated_by,
                "at": v.updated_at.isoformat(),
            },
        )
        for v in instance.values.filter(changed_in__gt=version).order_by("group", "row", "item")
    ]


def _instance_for_change(
    *,
    actor: User,
    subject: Subject,
    where: tuple[str, int, str, int],
    base_version: int | None,
    form_rules: FormRules,
    lock: bool = True,
) -> FormInstance:
    """Return the form instance, locked for this transaction, once the save is not stale.

    A form never saved yet is returned unsaved (``pk`` None): `_instance_write` inserts it when
    the save writes, so that a first save is one INSERT rather than an INSERT and an UPDATE.
    """
    event, occurrence, form, repeat = where
    study = subject.study
    environment = _environment(study)
    refusal = environment_refusal(subject)  # a test patient once the study is in production
    if refusal:
        raise ValidationError(refusal)
    found = FormInstance.objects.filter(
        subject=subject,
        environment=environment,
        event=event,
        occurrence=occurrence,
        form=form,
        repeat=repeat,
    )
    # Unordered and locking its own row only: the model's ordering would join the subject and the
    # study, and FOR UPDATE would then lock the study's row and serialise every save of a study.
    found = found.order_by()
    instance = (found.select_for_update(of=("self",)) if lock else found).first()
    if instance is None:
        instance = FormInstance(
            subject=subject,
            environment=environment,
            event=event,
            occurrence=occurrence,
            form=form,
            repeat=repeat,
            study_version=study.current_version,
        )
    _refuse_stale(instance, base_version, form_rules, actor)
    return instance


def _refuse_stale(
    instance: FormInstance, base_version: int | None, rules: FormRules, actor: User
) -> None:
    if base_version is not None and base_version > instance.version:
        # No one read this version: a client counting on its own, or a mistyped number.
        raise FormVersionAhead(sent=base_version, current_version=instance.version)
    if instance.version and base_version != instance.version:
        if base_version is None:
            raise ValidationError(
                _("Send the version of the form you read (it is at version %(version)s).")
                % {"version": instance.version}
            )
        raise FormConflict(
            current_version=instance.version,
            changes=_changes_since(instance, base_version, rules, actor),
        )


def _instance_write(instance: FormInstance, rules: FormRules, actor: User) -> None:
    """Write the instance: an UPDATE, or the INSERT of a form's first save.

    Two first saves of one form at once: the second INSERT meets the unique constraint once
    the first commits, and is refused as stale, with what the first one wrote; when the first
    wrote nothing (an empty save), the second simply goes on with that row.
    """
    if instance.pk is not None:
        instance.save()
        return
    if not row_insert_unless_taken(instance):
        other = (
            FormInstance.objects.select_for_update(of=("self",))
            .order_by()
            .filter(
                subject=instance.subject,
                environment=instance.environment,
                event=instance.event,
                occurrence=instance.occurrence,
                form=instance.form,
                repeat=instance.repeat,
            )
            .first()
        )
        if other is None:  # a constraint other than the form's own: not a concurrent first save
            raise IntegrityError(f"The form instance {instance} breaks a unique constraint.")
        if other.version:  # this save was computed on an empty form: stale whatever it says
            raise FormConflict(
                current_version=other.version, changes=_changes_since(other, 0, rules, actor)
            ) from None
        instance.pk, instance.created_at = other.pk, other.created_at
        instance.save()


def _language() -> str:
    """Return the language a refusal speaks: the active one, French or else English."""
    return "fr" if (get_language() or "en").startswith("fr") else "en"


def _actor_label(actor: User) -> str:
    return actor.display_name()


def _atomic_unless_dry_run(save: Callable[P, R]) -> Callable[P, R]:
    """Run a save in one transaction; a dry run reads only, outside any transaction, so that it
    never takes SQLite's write lock."""

    @functools.wraps(save)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        if kwargs.get("dry_run"):
            return save(*args, **kwargs)
        with transaction.atomic():
            return save(*args, **kwargs)

    return run


@_atomic_unless_dry_run
def form_save(
    *,
    actor: User,
    subject: Subject,
    event: str,
    occurrence: int = 1,
    form: str,
    repeat: int = 1,
    base_version: int | None,
    values: dict[str, Any] | None = None,
    rows: dict[str, dict[int, dict[str, Any] | None]] | None = None,
    complete: bool = False,
    reason: str = "",
    dry_run: bool = False,
) -> SaveOutcome:
    """Validate, compute, check and write one form instance's values, all or nothing.

    ``values`` are the non-repeating items to change (None or "" clears, `Missing` enters a
    missing-data code); ``rows`` the repeating groups' rows to change (None removes a row).
    Items not sent keep their value. ``base_version`` is the version the person read.
    ``dry_run`` runs every step up to the writes and writes nothing (no lock either): what a
    page's live validation shows.
    """
    study = subject.study
    require(actor, Action.ENTER_DATA, study=study, site=subject.site)
    _environment(study)  # refuses a study that takes no data before anything is read
    today = site_today(subject.site)
    rules, form_rules = _form_rules(study, event, occurrence, form, repeat)
    definition = rules.definition
    version = study.current_version
    assert version is not None

    instance = _instance_for_change(
        actor=actor,
        subject=subject,
        where=(event, occurrence, form, repeat),
        base_version=base_version,
        form_rules=form_rules,
        lock=not dry_run,
    )
    if instance.status == FormStatus.NOT_DONE:
        raise ValidationError(_("This form is marked not done; reopen it before entering data."))

    # A form never saved has no values to read.
    existing = {(v.item, v.row): v for v in instance.values.all()} if instance.pk else {}
    state: dict[Key, _Cell] = {
        key: _stored_cell(definition, form_rules, value) for key, value in existing.items()
    }
    errors: dict[str, str] = {}
    for name, raw in (values or {}).items():
        if form_rules.group_of.get(name) in form_rules.repeating_groups:
            errors[name] = _("%(item)s belongs to a repeating group; send it in rows.") % {
                "item": repr(name)
            }
            continue
        if name in form_rules.items and form_rules.items[name].type == "calculated":
            errors[name] = _("This item is calculated; it cannot be entered.")
            continue
        cell = _read(definition, form_rules, name, raw, errors, name)
        if cell is not None:
            state[(name, 0)] = cell
    for group, group_rows in (rows or {}).items():
        if group not in form_rules.repeating_groups:
            errors[group] = _("%(form)s has no repeating group %(group)s.") % {
                "form": repr(form),
                "group": repr(group),
            }
            continue
        group_items = [i for i, g in form_rules.group_of.items() if g == group]
        for row, row_values in group_rows.items():
            if row < 1:
                errors[f"{group}[{row}]"] = _("Rows are numbered from 1.")
                continue
            if row_values is None:
                for name in group_items:
                    if (name, row) in state:
                        state[(name, row)] = _Cell(EMPTY, removed=True)
                continue
            for name, raw in row_values.items():
                place = f"{group}[{row}].{name}"
                if name not in group_items:
                    errors[place] = _("%(item)s is not an item of the group %(group)s.") % {
                        "item": repr(name),
                        "group": repr(group),
                    }
                    continue
                cell = _read(definition, form_rules, name, raw, errors, place)
                if cell is not None:
                    state[(name, row)] = cell
    for group in form_rules.repeating_groups:
        limit = next(g.max_rows for g in form_rules.form.groups if g.name == group)
        active = {
            row
            for (name, row), cell in state.items()
            if form_rules.group_of.get(name) == group and not cell.removed and not cell.empty
        }
        if limit and len(active) > limit:
            errors[group] = ngettext(
                "At most %(limit)s row is allowed; there would be %(count)s.",
                "At most %(limit)s rows are allowed; there would be %(count)s.",
                limit,
            ) % {"limit": limit, "count": len(active)}
    if errors:
        raise FormErrors(errors)
    # What a withdrawal still allows depends on the date of the data: a form dated before a
    # withdrawal from follow-up may still be completed; an undated one counts as today's.
    dated = [cell.reading.day for cell in state.values() if cell.reading.day and not cell.removed]
    refusal = entry_refusal(subject, on=max(dated) if dated else today)
    if refusal:
        raise ValidationError(refusal)

    context = _Context(instance, rules, form_rules, state)
    for item, rule in form_rules.calculations:
        result = _evaluate(rule, context, today)
        state[(item.name, 0)] = _Cell(text_of_value(item.result_type, result))
    hidden = {
        name
        for name, rule in form_rules.show_if.items()
        if _evaluate(rule, context, today) is not True
    }

    fired_soft: list[tuple[Any, Rule]] = []
    for rule_check, rule in form_rules.checks:
        if _evaluate(rule, context, today) is False:
            places = list(rule_check.items) or [
                r.name for r in rule.reads if r.name in form_rules.items
            ]
            if rule_check.severity == "hard":
                # The study's own sentence, in the language of the person saving.
                message = rule_check.message.text(_language())
                for place in places or [rule_check.name]:
                    errors[place] = message
            else:
                fired_soft.append((rule_check, rule))
    completing = complete or instance.status == FormStatus.COMPLETE
    if completing:
        for name, item in form_rules.items.items():
            if not item.required or item.type == "calculated" or name in hidden:
                continue
            if form_rules.group_of[name] in form_rules.repeating_groups:
                keys = [key for key in state if key[0] == name and not state[key].removed]
            else:
                keys = [(name, 0)]
            for key in keys:
                cell = state.get(key)
                if cell is None or cell.empty:
                    errors[_place(form_rules, *key)] = _(
                        "Required: enter a value or a missing-data code."
                    )
    if errors:
        raise FormErrors(errors)

    changed = [key for key, cell in state.items() if _differs(existing.get(key), cell)]
    if changed and instance.status == FormStatus.COMPLETE and not reason.strip():
        raise FormErrors({"reason": _("This form is complete: say why you change it.")})

    outcome = SaveOutcome(form_instance=instance, hidden=sorted(hidden))
    outcome.changed = [
        {
            "place": _place(form_rules, name, row),
            "old": _audit_cell(form_rules.items[name], existing.get((name, row))),
            "new": _audit_cell(form_rules.items[name], state[(name, row)]),
        }
        for name, row in changed
    ]
    if dry_run:
        outcome.soft_checks = _check_results(instance, fired_soft, form_rules, write=False)
        return outcome

    # The writes, all computed above: the instance, its values, its check results, the news
    # date, and last the audit events.
    old_status = instance.status
    has_data = any(not cell.empty and not cell.removed for cell in state.values())
    instance.status = (
        FormStatus.COMPLETE
        if completing
        else FormStatus.IN_PROGRESS
        if has_data
        else FormStatus.NOT_STARTED
    )
    instance.version += 1 if changed or instance.status != old_status else 0
    instance.study_version = version
    first_save = instance.pk is None
    _instance_write(instance, form_rules, actor)

    label = _actor_label(actor)
    now = utc_now()
    to_create: list[ItemValue] = []
    to_update: list[ItemValue] = []
    dates_moved_back = False
    newest: date | None = None
    for name, row in changed:
        cell = state[(name, row)]
        stored = existing.get((name, row))
        if stored is not None and stored.day is not None:
            dates_moved_back = True  # a date changed or went: news may now be older
        if cell.reading.day is not None and cell.reading.day <= today and not cell.removed:
            newest = max(newest or cell.reading.day, cell.reading.day)
        if stored is None:
            stored = ItemValue(
                form_instance=instance,
                item=name,
                item_oid=form_rules.items[name].oid,
                group=form_rules.group_of[name],
                row=row,
            )
            to_create.append(stored)
        else:
            to_update.append(stored)
        stored.text, stored.number, stored.day = (
            cell.reading.text,
            cell.reading.number,
            cell.reading.day,
        )
        stored.missing_code, stored.removed = cell.missing, cell.removed
        stored.changed_in, stored.study_version = instance.version, version
        stored.updated_by, stored.updated_at = label, now
    # Branching may hide or show values that did not change: their flag follows.
    for value in [*existing.values(), *to_create]:
        should_hide = (
            value.item in hidden and bool(value.text or value.missing_code) and not value.removed
        )
        if value.hidden != should_hide:
            value.hidden = should_hide
            if value.pk is not None and value not in to_update:
                to_update.append(value)
        if should_hide:
            outcome.hidden_kept.append(_place(form_rules, value.item, value.row))
    rows_insert(to_create)
    if to_update:
        ItemValue.objects.bulk_update(
            to_update,
            [
                "text",
                "number",
                "day",
                "missing_code",
                "removed",
                "hidden",
                "changed_in",
                "study_version",
                "updated_by",
                "updated_at",
            ],
        )
    outcome.values = [*existing.values(), *to_create]
    outcome.soft_checks = _check_results(
        instance, fired_soft, form_rules, write=True, first_save=first_save
    )
    outcome.open_checks = outcome.soft_checks
    # A captured date (a visit, an examination) may be the subject's latest news. Dates only
    # added can only move it forward (one UPDATE); a changed or removed date needs a recount,
    # and so does any date of a deceased subject (never news: flagged if after the death).
    if dates_moved_back or subject.study_status == StudyStatus.DECEASED:
        subject_last_news_refresh(subject)
        outcome.open_checks = [
            *outcome.soft_checks,
            *CheckResult.objects.filter(
                form_instance=instance, check_name=AFTER_DEATH_CHECK, open=True
            ),
        ]
    elif newest is not None and newest > subject.last_news_on:
        Subject.objects.filter(pk=subject.pk).update(last_news_on=newest)
        subject.last_news_on = newest

    where = {
        "subject": subject.identifier,
        "event": event,
        "occurrence": occurrence,
        "form": form,
        "repeat": repeat,
        "form_version": instance.version,
    }
    entries = [
        AuditEntry(
            action="item.changed",
            target=("capture.itemvalue", f"{instance.pk}:{name}:{row}"),
            old=change["old"],
            new={**change["new"], **where, "item": name, "row": row},
            reason=reason.strip(),
        )
        for (name, row), change in zip(changed, outcome.changed, strict=True)
    ]
    if instance.status != old_status:
        entries.append(
            AuditEntry(
                action="form.status_changed",
                target=instance,
                old={"status": old_status},
                new={"status": instance.status, "form_version": instance.version},
                reason=reason.strip(),
            )
        )
    # Last: the study's chain is locked from here to the commit, so concurrent saves of the
    # study queue only for the time it takes to append these events.
    audit_record_many(actor=actor, entries=entries, chain=study.audit_chain)
    return outcome


def _audit_cell(item: Item, value: ItemValue | _Cell | None) -> dict[str, Any] | None:
    """Return a value as the audit trail and a conflict show it (identifying text hashed)."""
    if value is None:
        return None
    if isinstance(value, ItemValue):
        text, missing, removed = value.text, value.missing_code, value.removed
    else:
        text, missing, removed = value.reading.text, value.missing, value.removed
    return {"text": _audit_text(item, text), "missing": missing, "removed": removed}


def _differs(stored: ItemValue | None, cell: _Cell) -> bool:
    if stored is None:
        return not cell.empty and not cell.removed
    return (stored.text, stored.missing_code, stored.removed) != (
        cell.reading.text,
        cell.missing,
        cell.removed,
    )


def _check_results(
    instance: FormInstance,
    fired: list[tuple[Any, Rule]],
    rules: FormRules,
    *,
    write: bool,
    first_save: bool = False,
) -> list[CheckResult]:
    """Return one open result per soft check that fires, kept from an earlier save or new.

    With ``write``, new results are stored and those that no longer fire are closed.
    """
    still_open = (
        {}
        if first_save or instance.pk is None
        else {
            r.check_name: r
            for r in CheckResult.objects.filter(form_instance=instance, open=True).exclude(
                check_name=AFTER_DEATH_CHECK  # not the study's: news of the subject keeps it
            )
        }
    )
    results, new = [], []
    for rule_check, rule in fired:
        result = still_open.pop(rule_check.name, None)
        if result is None:
            result = CheckResult(
                form_instance=instance,
                check_name=rule_check.name,
                message_en=rule_check.message.text("en"),
                message_fr=rule_check.message.text("fr"),
                items=list(rule_check.items)
                or [r.name for r in rule.reads if r.name in rules.items],
            )
            new.append(result)
        results.append(result)
    if write:
        rows_insert(new)
        if still_open:  # what is left no longer fires
            CheckResult.objects.filter(pk__in=[r.pk for r in still_open.values()]).update(
                open=False, closed_at=utc_now()
            )
    return results


@transaction.atomic
def form_mark_not_done(
    *,
    actor: User,
    subject: Subject,
    event: str,
    occurrence: int = 1,
    form: str,
    repeat: int = 1,
    base_version: int | None,
    reason: str,
) -> FormInstance:
    """Mark a form not done (the examination was not performed), with the study's reason."""
    study = subject.study
    require(actor, Action.ENTER_DATA, study=study, site=subject.site)
    rules, form_rules = _form_rules(study, event, occurrence, form, repeat)
    if not form_rules.form.not_done_allowed:
        raise ValidationError(_("%(form)s cannot be marked not done.") % {"form": repr(form)})
    reasons = {r.code for r in rules.definition.not_done_reasons}
    if not reason.strip() or (reasons and reason not in reasons):
        why = (
            _("Give the reason the form was not done (%(reasons)s).")
            % {"reasons": ", ".join(sorted(reasons))}
            if reasons
            else _("Give the reason the form was not done.")
        )
        raise FormErrors({"reason": why})
    instance = _instance_for_change(
        actor=actor,
        subject=subject,
        where=(event, occurrence, form, repeat),
        base_version=base_version,
        form_rules=form_rules,
    )
    old = instance.status
    instance.status, instance.not_done_reason = FormStatus.NOT_DONE, reason.strip()
    instance.version += 1
    _instance_write(instance, form_rules, actor)
    audit_record(
        actor=actor,
        action="form.status_changed",
        target=instance,
        old={"status": old},
        new={
            "status": FormStatus.NOT_DONE,
            "reason_code": instance.not_done_reason,
            "form_version": instance.version,
        },
        reason=reason.strip(),
        chain=study.audit_chain,
    )
    return instance


@transaction.atomic
def form_reopen(
    *,
    actor: User,
    subject: Subject,
    event: str,
    occurrence: int = 1,
    form: str,
    repeat: int = 1,
    base_version: int | None,
    reason: str,
) -> FormInstance:
    """Take back "not done" (the examination was done after all), saying why.

    The form returns to the status its values give it: in progress with values (kept, never
    deleted, while the form was not done), not started without.
    """
    study = subject.study
    require(actor, Action.ENTER_DATA, study=study, site=subject.site)
    _rules, form_rules = _form_rules(study, event, occurrence, form, repeat)
    if not reason.strip():
        raise FormErrors({"reason": _("Say why the form is reopened.")})
    instance = _instance_for_change(
        actor=actor,
        subject=subject,
        where=(event, occurrence, form, repeat),
        base_version=base_version,
        form_rules=form_rules,
    )
    if instance.status != FormStatus.NOT_DONE:
        raise ValidationError(_("This form is not marked not done; there is nothing to reopen."))
    has_data = instance.values.filter(removed=False).exclude(text="", missing_code="").exists()
    instance.status = FormStatus.IN_PROGRESS if has_data else FormStatus.NOT_STARTED
    instance.not_done_reason = ""
    instance.version += 1
    instance.save()
    audit_record(
        actor=actor,
        action="form.status_changed",
        target=instance,
        old={"status": FormStatus.NOT_DONE},
        new={"status": instance.status, "form_version": instance.version},
        reason=reason.strip(),
        chain=study.audit_chain,
    )
    return instance


# --- files ------------------------------------------------------------------------------------

# What each declared file type may really be, recognised by the first bytes of the file: a
# renamed executable is refused whatever its name says.
SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "pdf": (b"%PDF-",),
    "png": (b"\x89PNG\r\n\x1a\n",),
    "jpeg": (b"\xff\xd8\xff",),
    "tiff": (b"II*\x00", b"MM\x00*"),
    "dicom": (),  # checked at offset 128 below
}
TEXT_TYPES = {"csv", "txt"}


def _file_kind(content: bytes) -> str | None:
    for kind, signatures in SIGNATURES.items():
        if any(content.startswith(signature) for signature in signatures):
            return kind
    if content[128:132] == b"DICM":
        return "dicom"
    try:
        content[:65536].decode("utf-8")
    except UnicodeDecodeError:
        return None
    return "txt"


def files_dir() -> Path:
    return Path(settings.DATA_DIR) / "uploads" / "files"


@transaction.atomic
def file_store(
    *, actor: User, subject: Subject, item: Item, name: str, content: bytes
) -> StoredFile:
    """Keep an uploaded document for a file item; return it (its SHA-256 is the item's value)."""
    study = subject.study
    require(actor, Action.ENTER_DATA, study=study, site=subject.site)
    limit_mb = item.file_max_megabytes or int(system_setting_value("upload_max_megabytes"))
    if len(content) > limit_mb * 1024 * 1024:
        raise ValidationError(
            _("%(name)s: the file is larger than %(limit)s MB.") % {"name": name, "limit": limit_mb}
        )
    if not content:
        raise ValidationError(_("%(name)s: the file is empty.") % {"name": name})
    kind = _file_kind(content)
    allowed = set(item.file_types or ("pdf", "png", "jpeg"))
    if kind == "txt" and allowed & TEXT_TYPES:
        kind = next(iter(sorted(allowed & TEXT_TYPES)))
    if kind not in allowed:
        raise ValidationError(
            _("%(name)s: the content is not one of the accepted types (%(types)s).")
            % {"name": name, "types": ", ".join(sorted(allowed))}
        )
    digest = sha256_hex(content)
    stored = StoredFile.objects.filter(study=study, sha256=digest).first()
    if stored is None:
        folder = files_dir() / digest[:2]
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / digest
        if not path.exists():
            partial = path.with_suffix(".partial")
            partial.write_bytes(content)
            partial.replace(path)
        content_type = mimetypes.types_map.get(
            "." + ("jpg" if kind == "jpeg" else kind), "application/octet-stream"
        )
        stored = StoredFile.objects.create(
            sha256=digest,
            size=len(content),
            content_type=content_type,
            original_name=Path(name).name[:200],
            study=study,
            uploaded_by=_actor_label(actor),
        )
    audit_record(
        actor=actor,
        action="file.uploaded",
        target=("capture.storedfile", digest),
        new={
            "sha256": digest,
            "size": len(content),
            "name": stored.original_name,
            "subject": subject.identifier,
            "item": item.name,
        },
        chain=study.audit_chain,
    )
    return stored


def study_entry_refusal(study: Study) -> str:
    """Return why the study takes no data now (design, frozen, locked), or "" when it does.

    What the form pages say above a form shown read-only: the same sentence a save would get.
    """
    try:
        _environment(study)
    except ValidationError as refusal:
        return str(refusal)
    return ""
