"""The bulk path: many form instances validated, computed, checked and written at once.

Every record goes through the steps of the save pipeline (capture/services.py), reused, not
copied: guards, reading and validating the values, calculations, branching, edit checks, the
changes and their audit events. What differs is how the database is used:

- one transaction for the whole import (all or nothing), none for a dry run;
- the permission is checked once per site, the form instances, their values and open check
  results of the import's subjects are read in a few queries, and the values other forms'
  rules read come from memory (those the import wrote before included, as they would be if the
  forms were saved one after another);
- instances, values and check results are written in batches (executemany; PostgreSQL's
  multi-row INSERT), and the audit events of the whole import are appended to the study's chain
  in one append, in the order sequential saves would have appended them.

A record naming a form instance an earlier record of the import already wrote starts a new
*wave*: each wave is written before the next is computed, so that a form saved, then completed
or corrected (the demo's patients), gets the versions and audit events sequential saves give.

Guards run for every record, before its values are read (a lock, a frozen study, a consent);
a guard whose quick test says it can refuse none of the import's subjects (no lock in force in
the study) is skipped. Listeners (automatic queries, deviations, last news…) act on every form
instance that changed, once its wave is written, with exactly its changes, as after an
interactive save: those with a set-wise form (`register_save_listener_many`) once per wave in a
few queries, the others once per instance. An instance
the import leaves unchanged is neither written nor shown to listeners: a second run of the same
import changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.db import connection, transaction
from django.utils.translation import gettext as _

from carnet.accounts.models import User
from carnet.accounts.permissions import may, require
from carnet.accounts.roles import Action
from carnet.audit.services import AuditEntry, SystemActor, audit_record_many
from carnet.capture.models import CheckResult, FormInstance, FormStatus, ItemValue
from carnet.capture.rules import FormRules, StudyRules, study_rules
from carnet.capture.seams import (
    OWN_CHECK_PREFIX,
    SaveGuard,
    WriteContext,
    WriteKind,
    save_guards_for,
    save_guards_run_some,
    save_listeners_run_many,
)
from carnet.capture.services import (
    ITEM_VALUE_FIELDS,
    FormErrors,
    Key,
    SaveOutcome,
    _actor_label,
    _branching_apply,
    _calculations_compute,
    _Cell,
    _changes_find,
    _changes_for_listeners,
    _checks_evaluate,
    _Context,
    _fired_rows,
    _form_rules,
    _items_read,
    _outcome,
    _place,
    _row_limits_check,
    _rows_read,
    _save_audit_entries,
    _stored_cell,
    _Target,
)
from carnet.core.clock import utc_now
from carnet.core.errors import CarnetError, ValidationError
from carnet.db.bulk import rows_insert
from carnet.studies.models import Study
from carnet.subjects.environments import environment_written
from carnet.subjects.models import Subject
from carnet.subjects.services import entry_refusal, site_today

InstanceKey = tuple[int, str, int, str, int]  # subject id, event, occurrence, form, repeat
# Called with the records done and the records in all, as the import goes.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class FormRecord:
    """One form instance's values to import: what one interactive save would send.

    ``source`` says where the record comes from (a file and its line) in the problems found.
    """

    subject: Subject
    event: str
    form: str
    occurrence: int = 1
    repeat: int = 1
    values: dict[str, Any] = field(default_factory=dict)
    rows: dict[str, dict[int, dict[str, Any] | None]] = field(default_factory=dict)
    complete: bool = False
    reason: str = ""  # the record's own reason; else the import's
    source: str = ""
    actor: User | SystemActor | None = None  # who enters it; else the importer


@dataclass(frozen=True)
class Problem:
    """Why a record cannot be imported: where (file, row, column) and why."""

    source: str
    place: str
    message: str

    def __str__(self) -> str:
        where = ", ".join(part for part in (self.source, self.place) if part)
        return f"{where}: {self.message}" if where else self.message


@dataclass
class ImportOutcome:
    """What an import found and, unless it was a dry run, wrote."""

    records: int = 0
    instances_changed: int = 0
    values_changed: int = 0
    soft_checks: int = 0
    audit_events: int = 0
    problems: list[Problem] = field(default_factory=list)
    dry_run: bool = False
    subjects_created: int = 0  # registered (or, in a dry run, that would be)
    outcomes: list[SaveOutcome] = field(default_factory=list)


class ImportRefused(ValidationError):
    """The import has problems: nothing was written. ``problems`` lists every one."""

    def __init__(self, problems: list[Problem]) -> None:
        shown = "; ".join(str(p) for p in problems[:20])
        more = len(problems) - 20
        super().__init__(
            _("The import has %(count)s problem(s); nothing was written: %(problems)s")
            % {"count": len(problems), "problems": shown + (f"; … (+{more})" if more > 0 else "")}
        )
        self.problems = problems


class _Memory:
    """The form instances and values of the import's subjects, read once, kept current.

    Every instance of the subjects is read (a record may create one), but values only for the
    instances the records write and, when a rule first reads it, for another form: a patient's
    whole casebook read again for each import of a few forms was most of the import's reads."""

    def __init__(self, study: Study, rules: StudyRules, records: Sequence[FormRecord]) -> None:
        self.rules = rules
        self.environment = environment_written(study)
        ids = sorted({r.subject.pk for r in records})
        self.instances: dict[InstanceKey, FormInstance] = {}
        # The first instance (lowest repeat) of each (subject, event, occurrence, form): what
        # another form's rules read. Kept as instances are, so a lookup is not a scan of all.
        self.first: dict[tuple[int, str, int, str], FormInstance] = {}
        self.states: dict[int, dict[Key, _Cell]] = {}  # by id(instance)
        self.stored: dict[int, dict[Key, ItemValue]] = {}
        self.open_checks: dict[int, dict[tuple[str, int], CheckResult]] = {}
        self.read: set[int] = set()  # id(instance) of those whose values are in memory
        found = FormInstance.objects.filter(
            subject_id__in=ids, environment=self.environment
        ).order_by("pk")
        if connection.features.has_select_for_update and transaction.get_autocommit() is False:
            # Inside the import's transaction: the instances it reads stay as read until it ends.
            found = found.select_for_update(of=("self",))
        for instance in found:
            self._keep(instance)
        written = {(r.subject.pk, r.event, r.occurrence, r.form, r.repeat) for r in records}
        read_by_rules = self._forms_read_by_rules(records)
        self._values_read(
            instance
            for key, instance in self.instances.items()
            if key in written or key[:4] in read_by_rules
        )

    def _forms_read_by_rules(self, records: Sequence[FormRecord]) -> set[tuple[int, str, int, str]]:
        """Return the other forms (subject, event, occurrence, form) the records' rules read,
        as `_Context.values` finds them: read with the rest, not one query each."""
        references: dict[str, set[tuple[str | None, str]]] = {}
        found: set[tuple[int, str, int, str]] = set()
        for record in records:
            if record.form not in references:
                form_rules = self.rules.forms.get(record.form)
                rules = (
                    [*form_rules.show_if.values()]
                    + [rule for _item, rule in form_rules.calculations]
                    + [rule for _check, rule in form_rules.checks]
                    if form_rules is not None
                    else []
                )
                references[record.form] = {
                    (reference.event, self.rules.form_of_item.get(reference.name, ""))
                    for rule in rules
                    for reference in rule.reads
                }
            for reference_event, form in references[record.form]:
                event = reference_event or record.event
                if event == record.event and form == record.form:
                    continue  # the record's own form: its state is in hand
                occurrence = record.occurrence if event == record.event else 1
                found.add((record.subject.pk, event, occurrence, form))
        return found

    def _values_read(self, instances: Iterable[FormInstance]) -> None:
        """Read the values and open checks of stored instances not read yet."""
        by_pk = {i.pk: i for i in instances if id(i) not in self.read}
        if not by_pk:
            return
        self.read.update(id(i) for i in by_pk.values())
        for value in ItemValue.objects.filter(form_instance_id__in=list(by_pk)).order_by("pk"):
            instance = by_pk[value.form_instance_id]
            self.stored[id(instance)][(value.item, value.row)] = value
            form_rules = self.rules.forms.get(instance.form)
            if form_rules is not None:
                self.states[id(instance)][(value.item, value.row)] = _stored_cell(
                    self.rules.definition, form_rules, value
                )
        for result in CheckResult.objects.filter(
            form_instance_id__in=list(by_pk), open=True
        ).exclude(check_name__startswith=OWN_CHECK_PREFIX):
            instance = by_pk[result.form_instance_id]
            self.open_checks[id(instance)][(result.check_name, result.row)] = result

    def _keep(self, instance: FormInstance) -> None:
        key = (
            instance.subject_id,
            instance.event,
            instance.occurrence,
            instance.form,
            instance.repeat,
        )
        self.instances[key] = instance
        first = self.first.get(key[:4])
        if first is None or instance.repeat < first.repeat:
            self.first[key[:4]] = instance
        self.states.setdefault(id(instance), {})
        self.stored.setdefault(id(instance), {})
        self.open_checks.setdefault(id(instance), {})

    def instance(self, record: FormRecord, study: Study) -> FormInstance:
        key = (record.subject.pk, record.event, record.occurrence, record.form, record.repeat)
        found = self.instances.get(key)
        if found is None:
            found = FormInstance(
                subject=record.subject,
                environment=self.environment,
                event=record.event,
                occurrence=record.occurrence,
                form=record.form,
                repeat=record.repeat,
                study_version=study.current_version,
            )
            self._keep(found)
            self.read.add(id(found))  # new: nothing stored to read
        return found

    def other(self, subject_id: int, event: str, occurrence: int, form: str) -> dict[Key, _Cell]:
        """Return the values of another form of a subject as rules read them (its first
        instance, removed rows left out), from memory."""
        instance = self.first.get((subject_id, event, occurrence, form))
        if instance is None:
            return {}
        self._values_read([instance])
        return {k: c for k, c in self.states[id(instance)].items() if not c.removed}


class _MemoryContext(_Context):
    """The values rules read, other forms' from the import's memory rather than queries."""

    def __init__(
        self,
        instance: FormInstance,
        rules: StudyRules,
        form_rules: FormRules,
        state: dict[Key, _Cell],
        memory: _Memory,
    ) -> None:
        super().__init__(instance, rules, form_rules, state)
        self.memory = memory

    def _other(self, event: str, occurrence: int, form: str) -> dict[Key, _Cell]:
        return self.memory.other(self.instance.subject_id, event, occurrence, form)


@dataclass
class _Computed:
    """One record once computed: what its write needs."""

    record: FormRecord
    target: _Target
    context: WriteContext
    existing: dict[Key, ItemValue]
    state: dict[Key, _Cell]
    changed: list[Key]
    hidden: set[str]
    fired: list[Any]
    completing: bool
    outcome: SaveOutcome
    old_status: str = ""
    first_save: bool = False
    reason: str = ""


class _Importer:
    def __init__(
        self,
        *,
        actor: User | SystemActor,
        study: Study,
        records: Sequence[FormRecord],
        reason: str,
        dry_run: bool,
        progress: Progress | None,
    ) -> None:
        version = study.current_version
        if version is None:
            raise ValidationError(
                _("%(study)s has no published version.") % {"study": study.identifier}
            )
        self.actor, self.study, self.records = actor, study, records
        self.reason, self.dry_run, self.progress = reason.strip(), dry_run, progress
        self.rules = study_rules(version)
        self.version = version
        self.allowed: set[tuple[int, int]] = set()
        self.today: dict[int, Any] = {}
        self.outcome = ImportOutcome(records=len(records), dry_run=dry_run)
        self.entries: list[AuditEntry] = []
        self.refusals: dict[tuple[int, Any], str | None] = {}
        self.guards: list[SaveGuard] = []
        self.free: dict[int, bool] = {}  # subjects whose entry nothing refuses, whatever the day

    def run(self) -> ImportOutcome:
        if not self.reason:
            raise ValidationError(_("Say why you import these data: a reason is required."))
        memory = _Memory(self.study, self.rules, self.records)
        # Guards that cannot refuse any of these subjects' writes (no lock in the study…) are
        # skipped: one test per import, not a query per record.
        self.guards = save_guards_for(self.study.pk, sorted({r.subject.pk for r in self.records}))
        wave: list[_Computed] = []
        in_wave: set[int] = set()
        for done, record in enumerate(self.records, 1):
            computed = self._compute(record, memory, in_wave, wave)
            if computed is not None:
                wave.append(computed)
                in_wave.add(id(computed.target.instance))
            if self.progress is not None and (done % 500 == 0 or done == len(self.records)):
                self.progress(done, len(self.records))
        self._wave_write(wave, memory)
        if self.outcome.problems:
            if self.dry_run:
                return self.outcome
            raise ImportRefused(self.outcome.problems)
        if not self.dry_run and self.entries:
            self.outcome.audit_events = len(
                audit_record_many(
                    actor=self.actor, entries=self.entries, chain=self.study.audit_chain
                )
            )
        return self.outcome

    def _permitted(self, actor: User | SystemActor, subject: Subject) -> None:
        if isinstance(actor, SystemActor):
            return  # a command run on the server by its administrator
        key = (actor.pk, subject.site_id)
        if key not in self.allowed:
            # The site's own staff, or a data manager of the study (a migration, a lab export).
            if not may(actor, Action.MANAGE_DATA, study=self.study, site=subject.site):
                require(actor, Action.ENTER_DATA, study=self.study, site=subject.site)
            self.allowed.add(key)

    def _compute(
        self,
        record: FormRecord,
        memory: _Memory,
        in_wave: set[int],
        wave: list[_Computed],
    ) -> _Computed | None:
        actor = record.actor or self.actor
        try:
            if record.subject.study_id != self.study.pk:
                raise ValidationError(
                    _("%(subject)s is not a subject of %(study)s.")
                    % {"subject": record.subject.identifier, "study": self.study.identifier}
                )
            self._permitted(actor, record.subject)
            _rules, form_rules = _form_rules(
                self.study, record.event, record.occurrence, record.form, record.repeat
            )
            instance = memory.instance(record, self.study)
            if id(instance) in in_wave:
                # Written by an earlier record: that wave goes to the database first.
                self._wave_write(wave, memory)
                wave.clear()
                in_wave.clear()
            if record.subject.site_id not in self.today:
                self.today[record.subject.site_id] = site_today(record.subject.site)
            target = _Target(
                actor,  # type: ignore[arg-type]  # a command's SystemActor writes like a person
                record.subject,
                self.rules,
                form_rules,
                instance,
                self.today[record.subject.site_id],
            )
            return self._steps(record, target, memory)
        except FormErrors as refused:
            for place, message in refused.errors.items():
                self.outcome.problems.append(Problem(record.source, place, message))
        except CarnetError as refused:
            self.outcome.problems.append(Problem(record.source, "", str(refused)))
        return None

    def _steps(self, record: FormRecord, target: _Target, memory: _Memory) -> _Computed | None:
        """The save pipeline's steps on one record, in memory."""
        reason = (record.reason or self.reason).strip()
        context = WriteContext(
            actor=target.actor,
            subject=target.subject,
            form_instance=target.instance,
            kind=WriteKind.SAVE,
            today=target.today,
            reason=reason,
        )
        save_guards_run_some(self.guards, context)
        instance = target.instance
        if instance.status == FormStatus.NOT_DONE:
            raise ValidationError(
                _("This form is marked not done; reopen it before entering data.")
            )
        existing = dict(memory.stored[id(instance)])
        state = dict(memory.states[id(instance)])
        errors: dict[str, str] = {}
        _items_read(target, record.values, state, errors)
        _rows_read(target, record.rows, state, errors)
        _row_limits_check(target.form_rules, state, errors)
        if errors:
            raise FormErrors(errors)
        self._entry_allowed(target, state)
        rules_context = _MemoryContext(instance, self.rules, target.form_rules, state, memory)
        _calculations_compute(target, rules_context, state)
        hidden = _branching_apply(target, rules_context)
        completing = record.complete or instance.status == FormStatus.COMPLETE
        fired = _fired_rows(
            target,
            rules_context,
            _checks_evaluate(target, rules_context, state, hidden, completing=completing),
        )
        changed = _changes_find(target, existing, state, reason)
        outcome = _outcome(target, existing, state, changed, hidden)
        memory.states[id(instance)] = state  # what later records' rules read
        return _Computed(
            record,
            target,
            context,
            existing,
            state,
            changed,
            hidden,
            fired,
            completing,
            outcome,
            reason=reason,
        )

    def _entry_allowed(self, target: _Target, state: dict[Key, _Cell]) -> None:
        """Refuse data the subject's status or withdrawals no longer allow (the pipeline's
        rule, its answer kept per subject and day: an import changes no subject's status)."""
        subject_id = target.subject.pk
        if subject_id not in self.free:
            # Only a withdrawal from follow-up depends on the day (data dated after it are
            # refused): a subject nothing refuses on the last day there is, nothing refuses on
            # any day. One question per subject rather than one per subject and day.
            self.free[subject_id] = entry_refusal(target.subject, on=date.max) is None
        if self.free[subject_id]:
            return
        dated = [c.reading.day for c in state.values() if c.reading.day and not c.removed]
        on = max(dated) if dated else target.today
        key = (subject_id, on)
        if key not in self.refusals:
            self.refusals[key] = entry_refusal(target.subject, on=on)
        if self.refusals[key]:
            raise ValidationError(self.refusals[key])

    def _wave_write(self, wave: list[_Computed], memory: _Memory) -> None:
        """Write a wave's instances, values and check results in batches, then run the
        listeners of each changed instance and keep its audit events in order."""
        if not wave or self.outcome.problems or self.dry_run:
            for computed in wave:
                self._count(computed, fired_only=True)
            return
        now, writes = utc_now(), []
        for computed in wave:
            instance = computed.target.instance
            computed.old_status = instance.status
            computed.first_save = instance.pk is None
            has_data = any(not c.empty and not c.removed for c in computed.state.values())
            status = (
                FormStatus.COMPLETE
                if computed.completing
                else FormStatus.IN_PROGRESS
                if has_data
                else FormStatus.NOT_STARTED
            )
            unchanged = not computed.changed and status == instance.status
            if (
                unchanged
                and not self._hidden_flips(computed)
                and not self._checks_differ(computed, memory)
            ):
                continue  # nothing to write: a second run of the same import
            computed.context.changes = _changes_for_listeners(
                computed.target, computed.existing, computed.state, computed.changed
            )
            instance.status = status
            instance.version += 1 if computed.changed or status != computed.old_status else 0
            instance.study_version = self.version
            instance.updated_at = now
            writes.append(computed)
        new_instances = [c.target.instance for c in writes if c.first_save]
        rows_insert(new_instances)
        old_instances = [c.target.instance for c in writes if not c.first_save]
        if old_instances:
            FormInstance.objects.bulk_update(
                old_instances, ["status", "version", "study_version", "updated_at"]
            )
        self._values_write(writes, memory, now)
        self._checks_write(writes, memory, now)
        for computed in writes:
            # What the interactive save tells its listeners, so that they may skip reading
            # what a form created by this write cannot have yet (verifications, queries).
            computed.context.form_created = computed.first_save
            computed.context.soft_checks_open = bool(computed.outcome.soft_checks)
        # Listeners with a set-wise form run once for the wave, the others once per instance.
        save_listeners_run_many([computed.context for computed in writes])
        for computed in writes:
            computed.outcome.open_checks = [
                *computed.outcome.soft_checks,
                *computed.context.open_checks,
            ]
            self.entries.extend(
                _save_audit_entries(
                    computed.target,
                    computed.changed,
                    computed.outcome,
                    computed.old_status,
                    computed.reason,
                )
            )
            self.entries.extend(computed.context.audit)
            self._count(computed)

    def _count(self, computed: _Computed, *, fired_only: bool = False) -> None:
        self.outcome.soft_checks += len(computed.fired)
        if computed.changed:
            self.outcome.instances_changed += 1
            self.outcome.values_changed += len(computed.changed)
        if not fired_only:
            self.outcome.outcomes.append(computed.outcome)

    @staticmethod
    def _hidden_flips(computed: _Computed) -> bool:
        for value in computed.existing.values():
            should_hide = (
                value.item in computed.hidden
                and bool(value.text or value.missing_code)
                and not value.removed
            )
            if value.hidden != should_hide:
                return True
        return False

    @staticmethod
    def _checks_differ(computed: _Computed, memory: _Memory) -> bool:
        still_open = memory.open_checks[id(computed.target.instance)]
        fired = {(check.name, row) for check, _rule, row in computed.fired}
        return fired != set(still_open)

    def _values_write(self, writes: list[_Computed], memory: _Memory, now: Any) -> None:
        to_create: list[ItemValue] = []
        to_update: list[ItemValue] = []
        for computed in writes:
            instance, form_rules = computed.target.instance, computed.target.form_rules
            label = _label(computed.target.actor)
            stored_values = memory.stored[id(instance)]
            created: list[ItemValue] = []
            updating: set[int] = set()
            for name, row in computed.changed:
                cell = computed.state[(name, row)]
                stored = stored_values.get((name, row))
                if stored is None:
                    stored = _value_new(instance, form_rules, name, row, cell, label, now)
                    created.append(stored)
                    stored_values[(name, row)] = stored
                    continue
                if id(stored) not in updating:
                    updating.add(id(stored))
                    to_update.append(stored)
                stored.text, stored.number, stored.day = (
                    cell.reading.text,
                    cell.reading.number,
                    cell.reading.day,
                )
                stored.missing_code, stored.removed = cell.missing, cell.removed
                stored.changed_in, stored.study_version = instance.version, instance.study_version
                stored.updated_by, stored.updated_at = label, now
            for value in [*computed.existing.values(), *created]:
                should_hide = (
                    value.item in computed.hidden
                    and bool(value.text or value.missing_code)
                    and not value.removed
                )
                if value.hidden != should_hide:
                    value.hidden = should_hide
                    if value.pk is not None and id(value) not in updating:
                        updating.add(id(value))
                        to_update.append(value)
                if should_hide:
                    computed.outcome.hidden_kept.append(_place(form_rules, value.item, value.row))
            to_create.extend(created)
            computed.outcome.values = [*computed.existing.values(), *created]
        rows_insert(to_create)
        if to_update:
            ItemValue.objects.bulk_update(to_update, ITEM_VALUE_FIELDS, batch_size=500)

    def _checks_write(self, writes: list[_Computed], memory: _Memory, now: Any) -> None:
        new: list[CheckResult] = []
        closing: list[int] = []
        for computed in writes:
            instance, form_rules = computed.target.instance, computed.target.form_rules
            still_open = memory.open_checks[id(instance)]
            results = []
            for rule_check, rule, row in computed.fired:
                result = still_open.pop((rule_check.name, row), None)
                if result is None:
                    result = CheckResult(
                        form_instance=instance,
                        check_name=rule_check.name,
                        row=row,
                        message_en=rule_check.message.text("en"),
                        message_fr=rule_check.message.text("fr"),
                        items=list(rule_check.items)
                        or [r.name for r in rule.reads if r.name in form_rules.items],
                    )
                    result.form_instance_id = instance.pk
                    new.append(result)
                results.append(result)
            closing.extend(r.pk for r in still_open.values())
            memory.open_checks[id(instance)] = {(r.check_name, r.row): r for r in results}
            computed.outcome.soft_checks = results
        rows_insert(new)
        if closing:
            CheckResult.objects.filter(pk__in=closing).update(open=False, closed_at=now)


_VALUE_FORM = ItemValue._meta.get_field("form_instance")


def _value_new(
    instance: FormInstance,
    form_rules: FormRules,
    name: str,
    row: int,
    cell: _Cell,
    label: str,
    now: Any,
) -> ItemValue:
    """Return a new value of a form instance already inserted, not yet saved."""
    reading = cell.reading
    # Positional arguments, in the model's field order (tests/capture/test_bulk_import.py checks
    # it): Django's quick path, a third of the cost of keywords for the demo's 120,000 values.
    value = ItemValue(  # type: ignore[misc]
        *(None, instance.pk, name, form_rules.items[name].oid, form_rules.group_of[name], row),
        *(reading.text, reading.number, reading.day, cell.missing, cell.removed, False),
        *(instance.version, instance.study_version_id, now, label),
    )
    _VALUE_FORM.set_cached_value(value, instance)
    return value


def _label(actor: User | SystemActor) -> str:
    return actor.label if isinstance(actor, SystemActor) else _actor_label(actor)


def import_allowed(actor: User | SystemActor, study: Study) -> bool:
    """Return whether someone may import data into the study at all (at some site): the
    records of sites they may not enter are refused one by one."""
    if isinstance(actor, SystemActor):
        return True
    return may(actor, Action.ENTER_DATA, study=study) or may(actor, Action.MANAGE_DATA, study=study)


def forms_import(
    *,
    actor: User | SystemActor,
    study: Study,
    records: Sequence[FormRecord],
    reason: str,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportOutcome:
    """Validate, compute, check and write many form instances of a study, all or nothing.

    A dry run reads only, outside any transaction, and returns every problem found (file, row,
    column, reason); otherwise any problem refuses the whole import (`ImportRefused`) and
    nothing is written.
    """
    importer = _Importer(
        actor=actor,
        study=study,
        records=records,
        reason=reason,
        dry_run=dry_run,
        progress=progress,
    )
    if dry_run:
        return importer.run()
    with transaction.atomic():
        return importer.run()
