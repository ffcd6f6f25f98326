"""Reads of captured data, scoped by the actor's sites, hiding what blinded people must not see."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db.models import Count, Max, Q

from carnet.accounts.blinding import blinding_of
from carnet.accounts.models import User
from carnet.accounts.permissions import require
from carnet.accounts.roles import Action
from carnet.audit.models import AuditEvent
from carnet.capture.models import CheckResult, FormInstance, FormStatus, ItemValue, StoredFile
from carnet.capture.rules import study_rules
from carnet.studies.definition.model import Event, Form, StudyDefinition
from carnet.subjects.models import Subject
from carnet.subjects.schedule import WindowStatus
from carnet.subjects.selectors import subject_occurrences


def environment_of(subject: Subject) -> str:
    """Return the environment of a subject's forms: the subject's own, whatever the mode now."""
    return subject.environment


def _instance(
    subject: Subject, *, event: str, occurrence: int, form: str, repeat: int
) -> FormInstance | None:
    return FormInstance.objects.filter(
        subject=subject,
        environment=environment_of(subject),
        event=event,
        occurrence=occurrence,
        form=form,
        repeat=repeat,
    ).first()


# What a casebook column says of a visit, besides the schedule's window statuses.
NOT_SCHEDULED = "not_scheduled"  # a scheduled event the schedule cannot place yet (anchor unknown)
RECORDED = "recorded"  # a visit date or data exists where the schedule places no occurrence
FINISHED = frozenset({FormStatus.COMPLETE, FormStatus.NOT_DONE})


@dataclass(frozen=True)
class CasebookInstance:
    """One saved instance of a form (a repeating form has several: AE 1, AE 2…)."""

    repeat: int
    status: str
    version: int
    open_checks: int
    id: int = 0  # the form instance's


@dataclass(frozen=True)
class CasebookCell:
    event: str
    occurrence: int
    form: str
    status: str  # of the first instance
    version: int
    open_checks: int
    instances: tuple[CasebookInstance, ...] = ()
    instance_id: int = 0  # of the first instance; 0 before it is saved

    @property
    def finished(self) -> bool:
        """Return whether nothing is left to enter: every instance complete or not done."""
        return bool(self.instances) and all(i.status in FINISHED for i in self.instances)


@dataclass(frozen=True)
class CasebookColumn:
    """One event occurrence: where the schedule places it (if it can), its visit date, and one
    cell per form of the event, in the event's order."""

    event: Event
    number: int
    target: date | None
    earliest: date | None
    latest: date | None
    done_on: date | None
    status: str  # a WindowStatus, NOT_SCHEDULED or RECORDED
    cells: tuple[CasebookCell, ...]

    @property
    def finished(self) -> bool:
        """Return whether the visit is behind us and every one of its forms is finished."""
        waiting = {WindowStatus.UPCOMING, WindowStatus.DUE, WindowStatus.OVERDUE, NOT_SCHEDULED}
        return self.status not in waiting and all(cell.finished for cell in self.cells)


@dataclass(frozen=True)
class Casebook:
    """A subject's casebook: the study's forms, and every event occurrence that exists or is
    expected, grouped by event in the study's order (occurrences by number)."""

    definition: StudyDefinition
    columns: tuple[CasebookColumn, ...]

    @property
    def forms(self) -> tuple[Form, ...]:
        return self.definition.forms


def casebook(actor: User, subject: Subject) -> Casebook:
    """Return a subject's casebook: every event occurrence the schedule places, and every one
    that holds a visit date or a form instance whatever the schedule computes.

    A scheduled event the schedule cannot place yet (its anchor date is unknown) and that holds
    nothing still has a column, marked NOT_SCHEDULED, so its forms can be opened. Built from a
    fixed number of queries, however many occurrences and forms the subject has.
    """
    require(actor, Action.VIEW_SUBJECTS, study=subject.study, site=subject.site)
    version = subject.study.current_version
    assert version is not None
    definition = study_rules(version).definition
    events = {event.name: event for event in definition.events}
    instances: dict[tuple[str, int, str], list[CasebookInstance]] = {}
    rows = (
        FormInstance.objects.filter(subject=subject, environment=environment_of(subject))
        .annotate(open_checks=Count("checks", filter=Q(checks__open=True)))
        .order_by("event", "occurrence", "form", "repeat")
        .values_list(
            "event", "occurrence", "form", "repeat", "status", "version", "open_checks", "pk"
        )
    )
    for event_name, number, form, repeat, status, form_version, checks, pk in rows:
        instances.setdefault((event_name, number, form), []).append(
            CasebookInstance(repeat, status, form_version, checks, pk)
        )
    visits = {
        (event_name, number): day
        for event_name, number, day in subject.visits.values_list("event", "occurrence", "visit_on")
    }
    placed = {(o.event, o.number): o for o in subject_occurrences(subject, definition=definition)}
    # Data of an event or form an amendment removed cannot be opened from this version's pages.
    held = {
        (event_name, number)
        for event_name, number, form in instances
        if event_name in events and form in events[event_name].forms
    }
    keys = set(placed) | {key for key in visits if key[0] in events} | held
    for event in definition.events:
        if not event.unscheduled and not any(key[0] == event.name for key in keys):
            keys.add((event.name, 1))
    order = {event.name: index for index, event in enumerate(definition.events)}
    columns = []
    for event_name, number in sorted(keys, key=lambda key: (order[key[0]], key[1])):
        event = events[event_name]
        occurrence = placed.get((event_name, number))
        done_on = visits.get((event_name, number))
        if occurrence is not None:
            status = str(occurrence.status)
        elif event.unscheduled:
            status = WindowStatus.UNSCHEDULED
        else:
            status = RECORDED if (event_name, number) in held or done_on else NOT_SCHEDULED
        columns.append(
            CasebookColumn(
                event=event,
                number=number,
                target=occurrence.target if occurrence else None,
                earliest=occurrence.earliest if occurrence else None,
                latest=occurrence.latest if occurrence else None,
                done_on=occurrence.done_on if occurrence else done_on,
                status=status,
                cells=tuple(
                    _cell(event_name, number, form, instances.get((event_name, number, form), []))
                    for form in event.forms
                ),
            )
        )
    return Casebook(definition, tuple(columns))


def _cell(event: str, number: int, form: str, saved: list[CasebookInstance]) -> CasebookCell:
    first = next((i for i in saved if i.repeat == 1), None)
    return CasebookCell(
        event=event,
        occurrence=number,
        form=form,
        status=first.status if first else FormStatus.NOT_STARTED,
        version=first.version if first else 0,
        open_checks=first.open_checks if first else 0,
        instances=tuple(saved),
        instance_id=first.id if first else 0,
    )


def form_state(
    actor: User, subject: Subject, *, event: str, occurrence: int, form: str, repeat: int = 1
) -> dict[str, Any]:
    """Return one form instance as a person may see it: values, rows, status, version, checks."""
    require(actor, Action.VIEW_SUBJECTS, study=subject.study, site=subject.site)
    instance = _instance(subject, event=event, occurrence=occurrence, form=form, repeat=repeat)
    if instance is None:
        return form_shown(actor, subject, form=form, instance=None, values=[], checks=[])
    return form_shown(
        actor,
        subject,
        form=form,
        instance=instance,
        values=list(instance.values.all()),
        checks=list(instance.checks.filter(open=True)),
    )


def form_shown(
    actor: User,
    subject: Subject,
    *,
    form: str,
    instance: FormInstance | None,
    values: list[ItemValue],
    checks: list[CheckResult],
) -> dict[str, Any]:
    """Return a form instance's values (removed rows included) and open checks as the actor
    may see them: arm-revealing values masked for the blinded.

    The save pipeline's outcome holds exactly these, so a save answers without reading again.
    """
    version = subject.study.current_version
    assert version is not None
    rules = study_rules(version).forms.get(form)
    if rules is None:
        return {}
    blinding = blinding_of(actor, study=subject.study)
    shown_values: dict[str, dict[str, Any]] = {}
    rows: dict[str, dict[int, dict[str, dict[str, Any]]]] = {
        group: {} for group in rules.repeating_groups
    }
    last: dict[str, int] = {}
    for value in sorted(values, key=lambda v: (v.group, v.row, v.item)):
        if value.row:
            last[value.group] = max(last.get(value.group, 0), value.row)
        if value.removed:
            continue
        shown = {
            "text": blinding.text(rules.items.get(value.item), value.text),
            "missing": value.missing_code,
            "hidden": value.hidden,
            "by": value.updated_by,
            "at": value.updated_at,
        }
        if value.group in rules.repeating_groups:
            rows[value.group].setdefault(value.row, {})[value.item] = shown
        else:
            shown_values[value.item] = shown
    return {
        "instance": instance,
        "status": instance.status if instance else FormStatus.NOT_STARTED,
        "version": instance.version if instance else 0,
        "not_done_reason": instance.not_done_reason if instance else "",
        "values": shown_values,
        "rows": rows,
        "checks": sorted(checks, key=lambda c: (c.check_name, c.row)),
        "rules": rules,
        # The highest row each repeating group ever used, removed rows included: a new row
        # takes the next number, so it never inherits the history of a removed one.
        "last_rows": last,
    }


def item_history(
    actor: User,
    subject: Subject,
    *,
    event: str,
    occurrence: int,
    form: str,
    item: str,
    row: int = 0,
    repeat: int = 1,
) -> list[dict[str, Any]]:
    """Return every change of one value from the audit trail: who, when, old, new, why."""
    require(actor, Action.VIEW_SUBJECTS, study=subject.study, site=subject.site)
    instance = _instance(subject, event=event, occurrence=occurrence, form=form, repeat=repeat)
    if instance is None:
        return []
    version = subject.study.current_version
    assert version is not None
    rules = study_rules(version).forms.get(form)
    blinding = blinding_of(actor, study=subject.study)
    definition = rules.items.get(item) if rules else None
    events = AuditEvent.objects.filter(
        chain=subject.study.audit_chain,
        target_type="capture.itemvalue",
        target_id=f"{instance.pk}:{item}:{row}",
    ).order_by("seq")
    history = []
    for event_row in events:
        old, new = event_row.old or {}, event_row.new or {}
        history.append(
            {
                "at": event_row.occurred_at,
                "by": event_row.actor_label,
                "old": blinding.text(definition, old.get("text", "")),
                "old_missing": old.get("missing", ""),
                "new": blinding.text(definition, new.get("text", "")),
                "new_missing": new.get("missing", ""),
                "removed": new.get("removed", False),
                "reason": event_row.reason,
            }
        )
    return history


def values_of_subject(subject: Subject) -> list[ItemValue]:
    return list(ItemValue.objects.filter(form_instance__subject=subject, removed=False))


def last_rows(
    subject: Subject, *, event: str, occurrence: int, form: str, repeat: int = 1
) -> dict[str, int]:
    """Return the highest row number each repeating group ever used, removed rows included.

    A new row takes the next number, so it never inherits the history of a removed one.
    """
    instance = _instance(subject, event=event, occurrence=occurrence, form=form, repeat=repeat)
    if instance is None:
        return {}
    found: dict[str, int] = {}
    for group, row in instance.values.filter(row__gt=0).values_list("group", "row"):
        found[group] = max(found.get(group, 0), row)
    return found


def values_at_version(
    actor: User,
    subject: Subject,
    *,
    event: str,
    occurrence: int,
    form: str,
    repeat: int = 1,
    version: int,
    places: list[tuple[str, int]],
) -> dict[tuple[str, int], dict[str, Any] | None]:
    """Return what some values were at a version of the form (None: empty), from the audit trail.

    What a page opened at that version showed: the first change after it holds the value before
    it (identifying text as its hash, as the trail keeps it). Places not changed since are left out.
    """
    require(actor, Action.VIEW_SUBJECTS, study=subject.study, site=subject.site)
    instance = _instance(subject, event=event, occurrence=occurrence, form=form, repeat=repeat)
    if instance is None or not places:
        return {}
    targets = {f"{instance.pk}:{item}:{row}": (item, row) for item, row in places}
    before: dict[tuple[str, int], dict[str, Any] | None] = {}
    for target_id, old, new in (
        AuditEvent.objects.filter(
            chain=subject.study.audit_chain,
            target_type="capture.itemvalue",
            target_id__in=list(targets),
        )
        .order_by("seq")
        .values_list("target_id", "old", "new")
    ):
        place = targets[target_id]
        if place not in before and int((new or {}).get("form_version", 0)) > version:
            before[place] = old
    return before


def last_repeat(subject: Subject, event: str, occurrence: int, form: str) -> int:
    """Return the highest instance number of a form at one event occurrence, 0 without any."""
    last = FormInstance.objects.filter(
        subject=subject,
        environment=environment_of(subject),
        event=event,
        occurrence=occurrence,
        form=form,
    ).aggregate(last=Max("repeat"))["last"]
    return int(last or 0)


def stored_file(subject: Subject, sha256: str) -> StoredFile | None:
    """Return the document with this hash in the subject's study, or None.

    Callers reach it through a value of this subject that the person may see, never by its hash
    alone: a hash from another site's subject must find nothing.
    """
    if not sha256:
        return None
    return StoredFile.objects.filter(study=subject.study, sha256=sha256).first()
