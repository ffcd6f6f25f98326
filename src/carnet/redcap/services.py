"""Records imported through the REDCap API: REDCap's rows turned into form records and written
by the bulk path (capture/bulk), so they pass the same guards, checks, listeners and audit as
any other entry, all or nothing, with the reason "REDCap API import by <user>"."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from carnet.accounts.models import StudySite, User
from carnet.accounts.permissions import PermissionDenied
from carnet.audit.services import SystemActor
from carnet.capture.bulk.engine import FormRecord, ImportRefused, forms_import, import_allowed
from carnet.redcap.formats import RedcapError
from carnet.redcap.project import RECORD_ID, Field, RedcapProject, event_of_unique_name
from carnet.redcap.selectors import DAG_COLUMN, KEY_COLUMNS
from carnet.studies.models import Study
from carnet.subjects.environments import environment_written
from carnet.subjects.models import Subject
from carnet.subjects.selectors import subjects_visible
from carnet.subjects.services import ConsentGiven, subject_include

InstanceKey = tuple[int, str, int, str, int]  # subject, event, occurrence, form, repeat


@dataclass
class RecordsImported:
    """What an import wrote: the records it named, in order of first appearance."""

    ids: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.ids)


@dataclass
class _Draft:
    values: dict[str, Any] = field(default_factory=dict)
    rows: dict[str, dict[int, dict[str, Any] | None]] = field(default_factory=dict)
    complete: bool = False
    source: str = ""


def eav_to_flat(rows: list[dict[str, str]], project: RedcapProject) -> list[dict[str, str]]:
    """Return EAV rows (one value each) gathered into REDCap's flat rows."""
    flat: dict[tuple[str, str, str, str], dict[str, str]] = {}
    for row in rows:
        key = (
            row.get("record", ""),
            row.get("redcap_event_name", ""),
            row.get("redcap_repeat_instrument", ""),
            row.get("redcap_repeat_instance", ""),
        )
        target = flat.setdefault(
            key,
            {
                project.record_id: key[0],
                "redcap_event_name": key[1],
                "redcap_repeat_instrument": key[2],
                "redcap_repeat_instance": key[3],
            },
        )
        name, value = row.get("field_name", ""), row.get("value", "")
        fld = project.field_by_name.get(name)
        if fld is not None and fld.checkbox:
            target[f"{name}___{value}".replace("-", "_")] = "1"
        else:
            target[name] = value
    return list(flat.values())


class _Reader:
    """Reads REDCap's flat rows into drafts of form records, or REDCap's refusal."""

    def __init__(self, project: RedcapProject, *, overwrite: bool, record_id: str) -> None:
        self.project = project
        self.record_id = record_id
        self.overwrite = overwrite
        self.drafts: dict[InstanceKey, _Draft] = {}
        self.checkbox_of: dict[str, tuple[Field, str]] = {}
        for fld in project.fields:
            if fld.checkbox:
                for column, code in project.export_columns(fld):
                    self.checkbox_of[column] = (fld, code)
        self.completes = {f"{i.name}_complete": i for i in project.instruments}
        self.events = {e.name: e for e in project.events()}
        self.unknown: set[str] = set()

    def read(self, number: int, row: dict[str, str], subject: Subject) -> None:
        unique = row.get("redcap_event_name", "")
        event = self.events.get(event_of_unique_name(unique))
        if event is None:
            raise RedcapError(
                f"The value '{unique}' in redcap_event_name is not a valid unique event name "
                f"(record {subject.identifier}, row {number})."
            )
        instrument_name = row.get("redcap_repeat_instrument", "")
        instance_text = row.get("redcap_repeat_instance", "") or "1"
        if not instance_text.isdigit() or int(instance_text) < 1:
            raise RedcapError(f"redcap_repeat_instance must be a positive integer (row {number}).")
        instance = int(instance_text)
        if instrument_name and instrument_name not in self.project.instrument_by_name:
            raise RedcapError(
                f"The value '{instrument_name}' in redcap_repeat_instrument is not a repeating "
                f"instrument (row {number})."
            )
        values: dict[str, dict[str, Any]] = defaultdict(dict)  # instrument -> item -> value
        ticks: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        completes: set[str] = set()
        for column, raw in row.items():
            if column in (self.record_id, *KEY_COLUMNS, DAG_COLUMN):
                continue
            self._cell(column, raw, values, ticks, completes)
        for instrument, fields in ticks.items():
            for name, codes in fields.items():
                values[instrument][name] = ",".join(code for code in codes if code)
        for instrument in set(values) | completes:
            self._draft(
                number,
                subject,
                event.name,
                instrument,
                instrument_name,
                instance,
                values.get(instrument, {}),
                instrument in completes,
            )

    def _cell(
        self,
        column: str,
        raw: str,
        values: dict[str, dict[str, Any]],
        ticks: dict[str, dict[str, list[str]]],
        completes: set[str],
    ) -> None:
        if column in self.completes:
            # 2 completes the form; REDCap's 0 and 1 leave its status as it is.
            if raw.strip() == "2":
                completes.add(self.completes[column].name)
            return
        if column in self.checkbox_of:
            checkbox, code = self.checkbox_of[column]
            if raw.strip() == "" and not self.overwrite:
                return
            ticks[checkbox.instrument.name][checkbox.name].append(
                code if raw.strip() == "1" else ""
            )
            return
        fld = self.project.field_by_name.get(column)
        if fld is None or fld.item is None:
            self.unknown.add(column)
            return
        if fld.item.type in {"calculated"}:
            return  # recomputed by the save pipeline; an export read back carries them
        if raw == "" and not self.overwrite:
            return
        if fld.item.type == "file":
            self.unknown.add(column)
            return
        values[fld.instrument.name][fld.name] = raw

    def _draft(
        self,
        number: int,
        subject: Subject,
        event: str,
        instrument_name: str,
        repeat_instrument: str,
        instance: int,
        values: dict[str, Any],
        complete: bool,
    ) -> None:
        instrument = self.project.instrument_by_name[instrument_name]
        form = instrument.form
        occurrence, repeat = 1, 1
        targeted = repeat_instrument == instrument_name
        if instrument.group is None and form.repeating:
            repeat = instance if targeted else 1
        elif instrument.group is None and not repeat_instrument:
            # A repeating event's instance is its occurrence (1 when the cell is blank).
            occurrence = instance
        key = (subject.pk, event, occurrence, form.name, repeat)
        draft = self.drafts.setdefault(key, _Draft(source=f"row {number}"))
        draft.complete = draft.complete or complete
        if instrument.group is not None:
            if values:
                row_number = instance if targeted else 1
                group_rows = draft.rows.setdefault(instrument.group.name, {})
                existing = group_rows.get(row_number) or {}
                group_rows[row_number] = {**existing, **values}
        else:
            draft.values.update(values)

    def records(self, subjects: dict[int, Subject]) -> list[FormRecord]:
        return [
            FormRecord(
                subject=subjects[key[0]],
                event=key[1],
                occurrence=key[2],
                form=key[3],
                repeat=key[4],
                values=draft.values,
                rows=draft.rows,
                complete=draft.complete,
                source=draft.source,
            )
            for key, draft in self.drafts.items()
        ]


def _subjects(actor: User | SystemActor, study: Study, names: list[str]) -> dict[str, Subject]:
    if isinstance(actor, SystemActor):
        subjects = Subject.objects.filter(study=study, environment=environment_written(study))
    else:
        subjects = subjects_visible(actor, study=study)
    return {s.identifier: s for s in subjects.filter(identifier__in=names).select_related("site")}


def _name(actor: User | SystemActor) -> str:
    return actor.label if isinstance(actor, SystemActor) else actor.username


def records_import(
    *,
    actor: User | SystemActor,
    study: Study,
    project: RedcapProject,
    rows: list[dict[str, str]],
    overwrite: bool = False,
    force_auto_number: bool = False,
    reason: str = "",
) -> RecordsImported:
    """Import REDCap flat rows into the study's existing subjects, all or nothing.

    Records are subjects: Carnet creates them only by inclusion (consent, eligibility,
    site), so a row naming an unknown record is refused, as is ``forceAutoNumber``. The
    reason defaults to "REDCap API import by <user>".
    """
    if not import_allowed(actor, study):
        raise PermissionDenied(_("You do not have API Import/Update privileges"))
    if force_auto_number:
        raise RedcapError(
            "forceAutoNumber is not offered: Carnet creates records only by including a subject."
        )
    imported = RecordsImported()
    names = []
    key = record_id_column(rows, project.record_id)
    for number, row in enumerate(rows, start=1):
        name = row.get(key, "").strip()
        if not name:
            raise RedcapError(
                f"The record ID field ({project.record_id}) is missing on row {number}."
            )
        names.append(name)
        if name not in imported.ids:
            imported.ids.append(name)
    visible = _subjects(actor, study, imported.ids)
    missing = [name for name in imported.ids if name not in visible]
    if missing:
        raise RedcapError(
            "The following records do not exist, and Carnet creates records only by including "
            "a subject: " + ", ".join(missing)
        )
    reader = _Reader(project, overwrite=overwrite, record_id=key)
    for number, (name, row) in enumerate(zip(names, rows, strict=True), start=1):
        reader.read(number, row, visible[name])
    if reader.unknown:
        raise RedcapError(
            "The following fields were not found in the project as real data fields: "
            + ", ".join(sorted(reader.unknown))
        )
    records = reader.records({subject.pk: subject for subject in visible.values()})
    try:
        forms_import(
            actor=actor,
            study=study,
            records=records,
            reason=reason or f"REDCap API import by {_name(actor)}",
        )
    except ImportRefused as refused:
        raise RedcapError("; ".join(str(problem) for problem in refused.problems)) from None
    return imported


def record_id_column(rows: list[dict[str, str]], default: str = RECORD_ID) -> str:
    """Return the column holding the record ID: ``record_id``, else the first column (a
    REDCap export starts with the project's own record ID field, ``study_id`` say)."""
    if not rows or default in rows[0]:
        return default
    return next(iter(rows[0]), default)


def _record_order(name: str) -> tuple[int, int | str]:
    return (0, int(name)) if name.isdigit() else (1, name)


@transaction.atomic
def records_include(
    *,
    actor: SystemActor,
    study: Study,
    site: StudySite,
    rows: list[dict[str, str]],
    included_on: date,
) -> list[Subject]:
    """Include, at a site, the records of a REDCap export that are not subjects yet (a
    migration run by the administrator), in the order of their record IDs.

    Each must come out under its REDCap record ID (the study numbering subjects ``{seq}``, as
    REDCap numbers records); one that would not is refused and nobody is included. Consent is
    recorded as given on the inclusion date, with the form version "REDCap".
    """
    record_id = record_id_column(rows)
    names = sorted({row.get(record_id, "").strip() for row in rows} - {""}, key=_record_order)
    existing = set(
        Subject.objects.filter(study=study, identifier__in=names).values_list(
            "identifier", flat=True
        )
    )
    included = []
    for name in names:
        if name in existing:
            continue
        subject = subject_include(
            actor=actor,
            study=study,
            site=site,
            included_on=included_on,
            eligibility={},
            consent=ConsentGiven(form_version="REDCap", consented_on=included_on),
        )
        if subject.identifier != name:
            raise RedcapError(
                f"Record {name} would become subject {subject.identifier}: the study must "
                "number its subjects {seq}, and the records come in order. Nobody was included."
            )
        included.append(subject)
    return included
