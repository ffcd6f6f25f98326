"""The save pipeline: the one way captured data changes, for pages, the API and imports.

resolve and lock the form instance -> guards -> validate each value -> compute calculated items
-> apply branching -> evaluate edit checks -> write values -> listeners -> audit events, in one
transaction (capture/seams.py: how other apps take part as guards and listeners). A save based
on a stale version of the form is refused with what changed since; changing a completed form
needs a reason.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, ParamSpec, TypeVar

from django.core.files.uploadedfile import SimpleUploadedFile, UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext as _

from carnet.accounts.blinding import blinding_of
from carnet.accounts.models import User
from carnet.accounts.permissions import require
from carnet.accounts.roles import Action
from carnet.audit.services import AuditEntry, audit_record, audit_record_many
from carnet.capture.files import (
    document_content_type,
    document_name,
    document_place,
    stored_file_keep,
)
from carnet.capture.models import (
    CheckResult,
    FormInstance,
    FormStatus,
    ItemValue,
    StoredFile,
)
from carnet.capture.rules import FormRules, Rule, StudyRules, study_rules
from carnet.capture.seams import (
    OWN_CHECK_PREFIX,
    Change,
    ValueState,
    WriteContext,
    WriteKind,
    save_guards_run,
    save_listeners_run,
)
from carnet.capture.uploads import (
    MEGABYTE,
    ReceivedFile,
    UploadTooLarge,
    upload_limit_megabytes,
)
from carnet.capture.values import (
    EMPTY,
    Reading,
    ValueRefused,
    read_value,
    text_of_value,
    value_of_text,
)
from carnet.core.clock import utc_now
from carnet.core.errors import CarnetError, ValidationError
from carnet.core.hashing import sha256_hex
from carnet.db.bulk import row_insert_unless_taken, rows_insert
from carnet.db.prepared import Prepared
from carnet.expressions import EvaluationError, evaluate
from carnet.studies.definition.model import Item, StudyDefinition
from carnet.studies.models import Study, StudyVersion
from carnet.subjects.environments import environment_written
from carnet.subjects.models import Subject
from carnet.subjects.services import entry_refusal, site_today

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
    scheduled = definition.event(event)
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


class _RowContext(_Context):
    """The values a check reads with one repeating group cut down to one of its rows: what
    tells which rows of an adverse-event log a check of the whole log questions."""

    def __init__(self, context: _Context, group: str, row: int) -> None:
        super().__init__(context.instance, context.rules, context.form_rules, context.state)
        self._others = context._others  # other forms' values, read once for every row
        self.group, self.row = group, row

    def _value_of(self, cells: dict[Key, _Cell], rules: FormRules, item: str) -> Any:
        if cells is self.state and rules.group_of.get(item) == self.group:
            cell = cells.get((item, self.row))
            return [] if cell is None or cell.removed else [cell.reading.value]
        return super()._value_of(cells, rules, item)


def _check_group(form_rules: FormRules, rule_check: Any, rule: Rule) -> str | None:
    """Return the repeating group a check is about (every item it names, or reads in this form,
    belongs to it), or None for a check of the whole form."""
    places = list(rule_check.items) or [r.name for r in rule.reads if r.name in form_rules.items]
    groups = {form_rules.group_of.get(place) for place in places}
    if len(groups) != 1:
        return None
    group = next(iter(groups))
    return group if group in form_rules.repeating_groups else None


def _fired_rows(
    target: _Target, context: _Context, fired: list[tuple[Any, Rule]]
) -> list[tuple[Any, Rule, int]]:
    """Return each soft check that fires with the rows it questions: the rows of its repeating
    group where, read alone, it fires too; row 0 (the whole form) where no single row does, as
    for a check on how many rows there are."""
    placed: list[tuple[Any, Rule, int]] = []
    for rule_check, rule in fired:
        group = _check_group(target.form_rules, rule_check, rule)
        rows: list[int] = []
        if group is not None:
            group_of = target.form_rules.group_of
            present = sorted(
                {
                    row
                    for (name, row), cell in context.state.items()
                    if row > 0 and not cell.removed and group_of.get(name) == group
                }
            )
            rows = [
                row
                for row in present
                if _evaluate(rule, _RowContext(context, group, row), target.today) is False
            ]
        placed.extend((rule_check, rule, row) for row in rows or [0])
    return placed


@dataclass
class _Target:
    """The form instance a write changes, found and locked, with what every step reads.

    A form never saved yet is unsaved here (``pk`` None): `_instance_write` inserts it when the
    write happens, so that a first save is one INSERT rather than an INSERT and an UPDATE.
    """

    actor: User
    subject: Subject
    rules: StudyRules
    form_rules: FormRules
    instance: FormInstance
    today: date  # at the subject's site

    @property
    def study(self) -> Study:
        return self.subject.study

    @property
    def definition(self) -> StudyDefinition:
        return self.rules.definition

    @property
    def study_version(self) -> StudyVersion:
        version = self.subject.study.current_version
        assert version is not None  # `_form_rules` refuses a study without one
        return version


def _rules_resolve(
    actor: User, subject: Subject, where: tuple[str, int, str, int]
) -> tuple[StudyRules, FormRules]:
    """Return the rules of the form a write names, once the actor may enter the subject's data."""
    study = subject.study
    require(actor, Action.ENTER_DATA, study=study, site=subject.site)
    event, occurrence, form, repeat = where
    return _form_rules(study, event, occurrence, form, repeat)


def _instance(
    subject_id: int, environment: str, event: str, occurrence: int, form: str, repeat: int
) -> QuerySet[FormInstance]:
    # Unordered and locking its own row only: the model's ordering would join the subject and the
    # study, and FOR UPDATE would then lock the study's row and serialise every save of a study.
    return FormInstance.objects.filter(
        subject_id=subject_id,
        environment=environment,
        event=event,
        occurrence=occurrence,
        form=form,
        repeat=repeat,
    ).order_by()


def _instance_locked(*where: Any) -> QuerySet[FormInstance]:
    return _instance(*where).select_for_update(of=("self",))


# Read by every save: compiled once (carnet/db/prepared.py).
_INSTANCE = Prepared(_instance, int, str, str, int, str, int)
_INSTANCE_LOCKED = Prepared(_instance_locked, int, str, str, int, str, int)


def _target_lock(
    *,
    actor: User,
    subject: Subject,
    where: tuple[str, int, str, int],
    rules: tuple[StudyRules, FormRules],
    lock: bool = True,
) -> _Target:
    """Return the write's target: its form instance, locked until the transaction ends.

    ``lock`` False reads without locking (a dry run, outside any transaction).
    """
    event, occurrence, form, repeat = where
    study = subject.study
    environment = environment_written(study)  # a study taking no data is refused by a guard
    instance = (_INSTANCE_LOCKED if lock else _INSTANCE).first(
        subject.pk, str(environment), event, occurrence, form, repeat
    )
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
    all_rules, form_rules = rules
    return _Target(actor, subject, all_rules, form_rules, instance, site_today(subject.site))


def _write_begin(
    target: _Target, kind: WriteKind, *, base_version: int | None, reason: str
) -> WriteContext:
    """Return the write's context once every guard let it through and it is not stale.

    The guards come first: a write they refuse learns nothing of the form, not even what
    changed since the version it was based on.
    """
    context = WriteContext(
        actor=target.actor,
        subject=target.subject,
        form_instance=target.instance,
        kind=kind,
        today=target.today,
        reason=reason.strip(),
    )
    save_guards_run(context)
    _refuse_stale(target.instance, base_version, target.form_rules, target.actor)
    return context


def _refuse_stale(
    instance: FormInstance, base_version: int | None, rules: FormRules, actor: User
) -> None:
    """Refuse a write based on another version of the form than its current one."""
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


def _instance_write(instance: FormInstance, rules: FormRules, actor: User) -> bool:
    """Write the instance: an UPDATE, or the INSERT of a form's first save; return whether
    this write inserted it.

    Two first saves of one form at once: the second INSERT meets the unique constraint once
    the first commits, and is refused as stale, with what the first one wrote; when the first
    wrote nothing (an empty save), the second simply goes on with that row.
    """
    if instance.pk is not None:
        instance.save()
        return False
    if row_insert_unless_taken(instance):
        return True
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
    return False


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


@dataclass(frozen=True)
class _Sent:
    """What a save asks: the values and rows to change, whether it completes the form, why."""

    values: dict[str, Any]
    rows: dict[str, dict[int, dict[str, Any] | None]]
    complete: bool = False
    reason: str = ""


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
    where = (event, occurrence, form, repeat)
    target = _target_lock(
        actor=actor,
        subject=subject,
        where=where,
        rules=_rules_resolve(actor, subject, where),
        lock=not dry_run,
    )
    sent = _Sent(values or {}, rows or {}, complete, reason)
    return _values_save(
        target, sent, kind=WriteKind.SAVE, base_version=base_version, dry_run=dry_run
    )


def _values_save(
    target: _Target,
    sent: _Sent,
    *,
    kind: WriteKind,
    base_version: int | None,
    dry_run: bool = False,
    events_first: list[AuditEntry] | None = None,
) -> SaveOutcome:
    """Save values into a resolved and locked form instance: the steps of the save pipeline.

    guards -> validate -> compute -> branch -> check -> write values -> listeners -> audit.
    The audit events (``events_first``, the save's, then the listeners') are appended last: the
    study's chain is locked from that append to the commit, so concurrent saves of a study
    queue for that short time only, and a listener's own writes (the subject's last news) never
    run while the chain is held.
    """
    context = _write_begin(target, kind, base_version=base_version, reason=sent.reason)
    if target.instance.status == FormStatus.NOT_DONE:
        raise ValidationError(_("This form is marked not done; reopen it before entering data."))
    existing, state = _values_read(target, sent)
    _entry_allowed(target, state)
    rules_context = _Context(target.instance, target.rules, target.form_rules, state)
    _calculations_compute(target, rules_context, state)
    hidden = _branching_apply(target, rules_context)
    completing = sent.complete or target.instance.status == FormStatus.COMPLETE
    fired_soft = _fired_rows(
        target,
        rules_context,
        _checks_evaluate(target, rules_context, state, hidden, completing=completing),
    )
    changed = _changes_find(target, existing, state, sent.reason)
    outcome = _outcome(target, existing, state, changed, hidden)
    if dry_run:
        outcome.soft_checks = _check_results(
            target.instance, fired_soft, target.form_rules, write=False
        )
        return outcome
    context.changes = _changes_for_listeners(target, existing, state, changed)
    old_status = target.instance.status
    first_save = target.instance.pk is None
    context.form_created = _instance_status_write(target, state, changed, completing=completing)
    _item_values_write(target, existing, state, changed, hidden, outcome)
    outcome.soft_checks = _check_results(
        target.instance, fired_soft, target.form_rules, write=True, first_save=first_save
    )
    context.soft_checks_open = bool(outcome.soft_checks)
    save_listeners_run(context)
    outcome.open_checks = [*outcome.soft_checks, *context.open_checks]
    entries = _save_audit_entries(target, changed, outcome, old_status, sent.reason)
    audit_record_many(
        actor=target.actor,
        entries=[*(events_first or ()), *entries, *context.audit],
        chain=target.study.audit_chain,
    )
    return outcome


def _values_read(target: _Target, sent: _Sent) -> tuple[dict[Key, ItemValue], dict[Key, _Cell]]:
    """Return the stored values and the form's state once the sent values are read into it.

    Refuses with `FormErrors`, every place at once, whatever cannot be read: an unknown item or
    group, a value of the wrong type, a calculated item entered, too many rows.
    """
    instance = target.instance
    # A form never saved has no values to read.
    existing = {(v.item, v.row): v for v in instance.values.all()} if instance.pk else {}
    state: dict[Key, _Cell] = {
        key: _stored_cell(target.definition, target.form_rules, value)
        for key, value in existing.items()
    }
    errors: dict[str, str] = {}
    _items_read(target, sent.values, state, errors)
    _rows_read(target, sent.rows, state, errors)
    _row_limits_check(target.form_rules, state, errors)
    if errors:
        raise FormErrors(errors)
    return existing, state


def _items_read(
    target: _Target, values: dict[str, Any], state: dict[Key, _Cell], errors: dict[str, str]
) -> None:
    """Read the sent values of the items outside repeating groups into the state."""
    form_rules = target.form_rules
    for name, raw in values.items():
        if form_rules.group_of.get(name) in form_rules.repeating_groups:
            errors[name] = _("%(item)s belongs to a repeating group; send it in rows.") % {
                "item": repr(name)
            }
            continue
        if name in form_rules.items and form_rules.items[name].type == "calculated":
            errors[name] = _("This item is calculated; it cannot be entered.")
            continue
        cell = _read(target.definition, form_rules, name, raw, errors, name)
        if cell is not None:
            state[(name, 0)] = cell


def _rows_read(
    target: _Target,
    rows: dict[str, dict[int, dict[str, Any] | None]],
    state: dict[Key, _Cell],
    errors: dict[str, str],
) -> None:
    """Read the sent rows of repeating groups into the state; a row sent as None is removed."""
    form_rules = target.form_rules
    for group, group_rows in rows.items():
        if group not in form_rules.repeating_groups:
            errors[group] = _("%(form)s has no repeating group %(group)s.") % {
                "form": repr(form_rules.form.name),
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
                cell = _read(target.definition, form_rules, name, raw, errors, place)
                if cell is not None:
                    state[(name, row)] = cell


def _row_limits_check(
    form_rules: FormRules, state: dict[Key, _Cell], errors: dict[str, str]
) -> None:
    """Refuse more rows in a repeating group than it allows."""
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


def _entry_allowed(target: _Target, state: dict[Key, _Cell]) -> None:
    """Refuse data the subject's status or withdrawals no longer allow.

    What a withdrawal still allows depends on the date of the data: a form dated before a
    withdrawal from follow-up may still be completed; an undated one counts as today's.
    """
    dated = [cell.reading.day for cell in state.values() if cell.reading.day and not cell.removed]
    refusal = entry_refusal(target.subject, on=max(dated) if dated else target.today)
    if refusal:
        raise ValidationError(refusal)


def _calculations_compute(target: _Target, context: _Context, state: dict[Key, _Cell]) -> None:
    """Compute the form's calculated items, in the order the study declares them."""
    for item, rule in target.form_rules.calculations:
        result = _evaluate(rule, context, target.today)
        state[(item.name, 0)] = _Cell(text_of_value(item.result_type, result))


def _branching_apply(target: _Target, context: _Context) -> set[str]:
    """Return the items branching hides: those whose condition is not true."""
    return {
        name
        for name, rule in target.form_rules.show_if.items()
        if _evaluate(rule, context, target.today) is not True
    }


def _checks_evaluate(
    target: _Target,
    context: _Context,
    state: dict[Key, _Cell],
    hidden: set[str],
    *,
    completing: bool,
) -> list[tuple[Any, Rule]]:
    """Return the soft edit checks that fire; refuse the save (`FormErrors`) where a hard check
    fails or, on a form being completed, a required item shown is left empty."""
    form_rules = target.form_rules
    errors: dict[str, str] = {}
    fired_soft: list[tuple[Any, Rule]] = []
    for rule_check, rule in form_rules.checks:
        if _evaluate(rule, context, target.today) is not False:
            continue
        if rule_check.severity != "hard":
            fired_soft.append((rule_check, rule))
            continue
        places = list(rule_check.items) or [
            r.name for r in rule.reads if r.name in form_rules.items
        ]
        # The study's own sentence, in the language of the person saving.
        message = rule_check.message.text(_language())
        for place in places or [rule_check.name]:
            errors[place] = message
    if completing:
        errors.update(_required_missing(form_rules, state, hidden))
    if errors:
        raise FormErrors(errors)
    return fired_soft


def _required_missing(
    form_rules: FormRules, state: dict[Key, _Cell], hidden: set[str]
) -> dict[str, str]:
    """Return the places of required items shown and left without a value or missing code."""
    errors: dict[str, str] = {}
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
    return errors


def _changes_find(
    target: _Target, existing: dict[Key, ItemValue], state: dict[Key, _Cell], reason: str
) -> list[Key]:
    """Return the values the save changes; refuse changes to a complete form without a reason."""
    changed = [key for key, cell in state.items() if _differs(existing.get(key), cell)]
    if changed and target.instance.status == FormStatus.COMPLETE and not reason.strip():
        raise FormErrors({"reason": _("This form is complete: say why you change it.")})
    return changed


def _outcome(
    target: _Target,
    existing: dict[Key, ItemValue],
    state: dict[Key, _Cell],
    changed: list[Key],
    hidden: set[str],
) -> SaveOutcome:
    """Return what the save changes, as the audit trail records it (identifying text hashed)."""
    form_rules = target.form_rules
    outcome = SaveOutcome(form_instance=target.instance, hidden=sorted(hidden))
    outcome.changed = [
        {
            "place": _place(form_rules, name, row),
            "old": _audit_cell(form_rules.items[name], existing.get((name, row))),
            "new": _audit_cell(form_rules.items[name], state[(name, row)]),
        }
        for name, row in changed
    ]
    return outcome


def _value_state(value: ItemValue | _Cell) -> ValueState:
    if isinstance(value, ItemValue):
        return ValueState(value.text, value.number, value.day, value.missing_code, value.removed)
    reading = value.reading
    return ValueState(reading.text, reading.number, reading.day, value.missing, value.removed)


def _changes_for_listeners(
    target: _Target, existing: dict[Key, ItemValue], state: dict[Key, _Cell], changed: list[Key]
) -> list[Change]:
    """Return the changed values as listeners see them (taken before the write updates the
    stored rows in place)."""
    return [
        Change(
            item=name,
            row=row,
            place=_place(target.form_rules, name, row),
            old=_value_state(stored) if (stored := existing.get((name, row))) else None,
            new=_value_state(state[(name, row)]),
        )
        for name, row in changed
    ]


def _instance_status_write(
    target: _Target, state: dict[Key, _Cell], changed: list[Key], *, completing: bool
) -> bool:
    """Write the form instance with the status its values give it, one version up if the save
    changes anything; return whether this write inserted it."""
    instance = target.instance
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
    instance.study_version = target.study_version
    return _instance_write(instance, target.form_rules, target.actor)


def _item_values_write(
    target: _Target,
    existing: dict[Key, ItemValue],
    state: dict[Key, _Cell],
    changed: list[Key],
    hidden: set[str],
    outcome: SaveOutcome,
) -> None:
    """Insert the new values and update the changed ones; values branching hides keep their
    text, flagged hidden (and listed in ``outcome.hidden_kept``)."""
    instance, form_rules = target.instance, target.form_rules
    label, now = _actor_label(target.actor), utc_now()
    to_create: list[ItemValue] = []
    to_update: list[ItemValue] = []
    for name, row in changed:
        cell = state[(name, row)]
        stored = existing.get((name, row))
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
        stored.changed_in, stored.study_version = instance.version, instance.study_version
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
        ItemValue.objects.bulk_update(to_update, ITEM_VALUE_FIELDS)
    outcome.values = [*existing.values(), *to_create]


# What a save may change in a stored value.
ITEM_VALUE_FIELDS = [
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
]


def _save_audit_entries(
    target: _Target,
    changed: list[Key],
    outcome: SaveOutcome,
    old_status: str,
    reason: str,
) -> list[AuditEntry]:
    """Return the save's audit events: one per changed value, one if the status changed."""
    instance = target.instance
    where = {
        "subject": target.subject.identifier,
        "event": instance.event,
        "occurrence": instance.occurrence,
        "form": instance.form,
        "repeat": instance.repeat,
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
    return entries


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
    fired: list[tuple[Any, Rule, int]],
    rules: FormRules,
    *,
    write: bool,
    first_save: bool = False,
) -> list[CheckResult]:
    """Return one open result per soft check that fires (per row of a repeating group where
    the check is about its rows), kept from an earlier save or new.

    With ``write``, new results are stored and those that no longer fire are closed.
    """
    still_open = (
        {}
        if first_save or instance.pk is None
        else {
            (r.check_name, r.row): r
            for r in CheckResult.objects.filter(form_instance=instance, open=True).exclude(
                # Not the study's: a listener keeps them (a date after death…).
                check_name__startswith=OWN_CHECK_PREFIX
            )
        }
    )
    results, new = [], []
    for rule_check, rule, row in fired:
        result = still_open.pop((rule_check.name, row), None)
        if result is None:
            result = CheckResult(
                form_instance=instance,
                check_name=rule_check.name,
                row=row,
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


def _status_write(
    target: _Target, context: WriteContext, *, old_status: str, new: dict[str, Any]
) -> None:
    """Write a change of the form's status alone (not done, reopened): the instance, the
    listeners, and the audit event with the listeners' own after it."""
    _instance_write(target.instance, target.form_rules, target.actor)
    save_listeners_run(context)
    entry = AuditEntry(
        action="form.status_changed",
        target=target.instance,
        old={"status": old_status},
        new={**new, "form_version": target.instance.version},
        reason=context.reason,
    )
    audit_record_many(
        actor=target.actor, entries=[entry, *context.audit], chain=target.study.audit_chain
    )


def _not_done_reason_check(rules: StudyRules, form_rules: FormRules, reason: str) -> None:
    """Refuse "not done" on a form that cannot be, or without one of the study's reasons."""
    if not form_rules.form.not_done_allowed:
        raise ValidationError(
            _("%(form)s cannot be marked not done.") % {"form": repr(form_rules.form.name)}
        )
    reasons = {r.code for r in rules.definition.not_done_reasons}
    if not reason.strip() or (reasons and reason not in reasons):
        why = (
            _("Give the reason the form was not done (%(reasons)s).")
            % {"reasons": ", ".join(sorted(reasons))}
            if reasons
            else _("Give the reason the form was not done.")
        )
        raise FormErrors({"reason": why})


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
    where = (event, occurrence, form, repeat)
    rules = _rules_resolve(actor, subject, where)
    _not_done_reason_check(*rules, reason)
    target = _target_lock(actor=actor, subject=subject, where=where, rules=rules)
    context = _write_begin(target, WriteKind.NOT_DONE, base_version=base_version, reason=reason)
    instance = target.instance
    old_status = instance.status
    instance.status, instance.not_done_reason = FormStatus.NOT_DONE, reason.strip()
    instance.version += 1
    _status_write(
        target,
        context,
        old_status=old_status,
        new={"status": FormStatus.NOT_DONE, "reason_code": instance.not_done_reason},
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
    where = (event, occurrence, form, repeat)
    rules = _rules_resolve(actor, subject, where)
    if not reason.strip():
        raise FormErrors({"reason": _("Say why the form is reopened.")})
    target = _target_lock(actor=actor, subject=subject, where=where, rules=rules)
    context = _write_begin(target, WriteKind.REOPEN, base_version=base_version, reason=reason)
    instance = target.instance
    if instance.status != FormStatus.NOT_DONE:
        raise ValidationError(_("This form is not marked not done; there is nothing to reopen."))
    has_data = instance.values.filter(removed=False).exclude(text="", missing_code="").exists()
    instance.status = FormStatus.IN_PROGRESS if has_data else FormStatus.NOT_STARTED
    instance.not_done_reason = ""
    instance.version += 1
    _status_write(target, context, old_status=FormStatus.NOT_DONE, new={"status": instance.status})
    return instance


# --- files ------------------------------------------------------------------------------------


def _file_item(form_rules: FormRules, name: str) -> Item:
    item = form_rules.items.get(name)
    if item is None or item.type != "file":
        raise ValidationError(
            _("There is no file item '%(item)s' on '%(form)s'.")
            % {"item": name, "form": form_rules.form.name}
        )
    return item


def _document_received(
    item: Item, upload: UploadedFile, reason: str
) -> tuple[ReceivedFile, str, str]:
    """Return an upload received on disk, the name it is kept under and its content type, once
    it is within the item's limit and of its accepted types."""
    if "\x00" in reason:  # PostgreSQL refuses it, and a multipart body reaches us unchecked
        raise FormErrors(
            {"reason": _("The reason contains a NUL character (U+0000), which no text may hold.")}
        )
    received = ReceivedFile.of(upload, limit_megabytes=upload_limit_megabytes(item))
    name = document_name(upload.name or "")
    return received, name, document_content_type(item, name, received.head, received.size or 0)


def form_file_attach(
    *,
    actor: User,
    subject: Subject,
    event: str,
    occurrence: int = 1,
    form: str,
    repeat: int = 1,
    item: str,
    upload: UploadedFile,
    base_version: int | None,
    reason: str = "",
) -> SaveOutcome:
    """Keep an uploaded document as the value of a file item, all or nothing.

    One transaction through the save pipeline (guards, stale check, a reason to change a
    complete form, listeners): the value, the document's row, their audit events
    (``file.uploaded`` first) and last the document itself under the data directory. A refused
    upload leaves none of them. The document is held to `upload_limit_megabytes` and its first
    bytes must be of the item's accepted types.
    """
    where = (event, occurrence, form, repeat)
    with transaction.atomic():
        rules = _rules_resolve(actor, subject, where)
        file_item = _file_item(rules[1], item)
        received, name, content_type = _document_received(file_item, upload, reason)
        target = _target_lock(actor=actor, subject=subject, where=where, rules=rules)
        uploaded = AuditEntry(
            action="file.uploaded",
            target=("capture.storedfile", received.sha256),
            new={
                "sha256": received.sha256,
                "size": received.size,
                "name": name,
                "subject": subject.identifier,
                "item": item,
            },
            reason=reason.strip(),
        )
        outcome = _values_save(
            target,
            _Sent({item: received.sha256}, {}, reason=reason),
            kind=WriteKind.FILE,
            base_version=base_version,
            events_first=[uploaded],
        )
        stored_file_keep(
            study=subject.study,
            received=received,
            content_type=content_type,
            uploaded_by=_actor_label(actor),
        )
        document_place(received)
    return outcome


@transaction.atomic
def file_store(
    *, actor: User, subject: Subject, item: Item, name: str, content: bytes
) -> StoredFile:
    """Keep a document for a file item without saving it as a value; return its row.

    For documents that arrive apart from a form (imports, tests setting data up): an upload
    from a person goes through `form_file_attach`, which saves the value with it.
    """
    study = subject.study
    require(actor, Action.ENTER_DATA, study=study, site=subject.site)
    limit = upload_limit_megabytes(item)
    if len(content) > limit * MEGABYTE:
        raise UploadTooLarge(name, limit)
    received = ReceivedFile.of(
        SimpleUploadedFile(document_name(name), content), limit_megabytes=limit
    )
    content_type = document_content_type(item, received.name or name, received.head, len(content))
    stored = stored_file_keep(
        study=study, received=received, content_type=content_type, uploaded_by=_actor_label(actor)
    )
    audit_record(
        actor=actor,
        action="file.uploaded",
        target=("capture.storedfile", received.sha256),
        new={
            "sha256": received.sha256,
            "size": len(content),
            "name": stored.original_name,
            "subject": subject.identifier,
            "item": item.name,
        },
        chain=study.audit_chain,
    )
    document_place(received)
    received.close()
    return stored
