"""An ODM 1.3.2 file's clinical data into a study, through the bulk import path.

Each FormData becomes one record of `forms_import` (capture/bulk): the same guards, validation,
calculations, checks and audit as a save, all or nothing, or a dry run that writes nothing. The
study's elements are found by OID (StudyEventOID, FormOID, ItemGroupOID, ItemOID; a Carnet ODM
export writes the study's own), subjects by SubjectKey among the study's subjects (an import does
not create subjects). A transactional file's changes are applied in file order, the last one of
each value winning; its AuditRecords are not replayed: the import is audited as the importer's,
with their reason. Every element that cannot be placed is a problem with its line.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _
from lxml import etree

from carnet.accounts.models import User
from carnet.audit.services import SystemActor
from carnet.capture.bulk.engine import (
    FormRecord,
    ImportOutcome,
    ImportRefused,
    Problem,
    forms_import,
)
from carnet.capture.services import Missing
from carnet.core.errors import ValidationError
from carnet.interop.odm.reading import odm
from carnet.studies.definition.model import StudyDefinition
from carnet.studies.models import Study
from carnet.subjects.environments import environment_written


@dataclass
class _Instance:
    source: str
    values: dict[str, Any] = field(default_factory=dict)
    rows: dict[str, dict[int, dict[str, Any] | None]] = field(default_factory=dict)


@dataclass
class _Lookup:
    """The study's elements by OID (and by name, for files that use names as OIDs)."""

    events: dict[str, str]
    forms: dict[str, str]
    groups: dict[tuple[str, str], tuple[str, bool]]  # (form, group OID) -> (group, repeating)
    items: dict[tuple[str, str], tuple[str, str]]  # (form, item OID) -> (item, its type)
    missing_codes: set[str]

    @classmethod
    def of(cls, definition: StudyDefinition) -> _Lookup:
        groups: dict[tuple[str, str], tuple[str, bool]] = {}
        items: dict[tuple[str, str], tuple[str, str]] = {}
        for form in definition.forms:
            for group in form.groups:
                groups[(form.name, group.oid)] = (group.name, group.repeating)
                for item in group.items:
                    items[(form.name, item.oid)] = (item.name, item.type)
        return cls(
            events={e.oid: e.name for e in definition.events},
            forms={f.oid: f.name for f in definition.forms},
            groups=groups,
            items=items,
            missing_codes={code.code for code in definition.missing_codes},
        )


def _number(element: etree._Element, attribute: str) -> int:
    raw = element.get(attribute, "1")
    return int(raw) if raw.isdigit() and int(raw) >= 1 else 1


class _Reader:
    def __init__(self, study: Study, definition: StudyDefinition, name: str) -> None:
        self.name = name
        self.lookup = _Lookup.of(definition)
        self.problems: list[Problem] = []
        self.recomputed = 0
        self.instances: dict[tuple[Any, ...], _Instance] = {}
        self.subjects = {
            subject.identifier: subject
            for subject in study.subjects.filter(
                environment=environment_written(study)
            ).select_related("site", "study")
        }

    def problem(self, element: etree._Element, place: str, message: str) -> None:
        self.problems.append(Problem(f"{self.name}:{element.sourceline}", place, message))

    def read(self, root: etree._Element) -> None:
        for clinical in root.iterfind(odm("ClinicalData")):
            for subject_data in clinical.iterfind(odm("SubjectData")):
                key = subject_data.get("SubjectKey", "")
                subject = self.subjects.get(key)
                if subject is None:
                    self.problem(
                        subject_data,
                        "SubjectKey",
                        _(
                            "no subject %(subject)s in this study (an import does not create "
                            "subjects)."
                        )
                        % {"subject": repr(key)},
                    )
                    continue
                for event_data in subject_data.iterfind(odm("StudyEventData")):
                    self._event(subject, event_data)

    def _event(self, subject: Any, event_data: etree._Element) -> None:
        oid = event_data.get("StudyEventOID", "")
        event = self.lookup.events.get(oid)
        if event is None:
            self.problem(
                event_data,
                "StudyEventOID",
                _("no event %(oid)s in this study.") % {"oid": repr(oid)},
            )
            return
        occurrence = _number(event_data, "StudyEventRepeatKey")
        for form_data in event_data.iterfind(odm("FormData")):
            form_oid = form_data.get("FormOID", "")
            form = self.lookup.forms.get(form_oid)
            if form is None:
                self.problem(
                    form_data,
                    "FormOID",
                    _("no form %(oid)s in this study.") % {"oid": repr(form_oid)},
                )
                continue
            repeat = _number(form_data, "FormRepeatKey")
            key = (subject, event, occurrence, form, repeat)
            instance = self.instances.setdefault(
                key, _Instance(f"{self.name}:{form_data.sourceline}")
            )
            for group_data in form_data.iterfind(odm("ItemGroupData")):
                self._group(form, group_data, instance)

    def _group(self, form: str, group_data: etree._Element, instance: _Instance) -> None:
        oid = group_data.get("ItemGroupOID", "")
        found = self.lookup.groups.get((form, oid))
        if found is None:
            self.problem(
                group_data,
                "ItemGroupOID",
                _("no item group %(oid)s in the form %(form)s.") % {"oid": repr(oid), "form": form},
            )
            return
        group, repeating = found
        row = _number(group_data, "ItemGroupRepeatKey") if repeating else 0
        if repeating and group_data.get("TransactionType") == "Remove":
            instance.rows.setdefault(group, {})[row] = None
            return
        for item_data in group_data.iterfind(odm("ItemData")):
            self._item(form, item_data, instance, group, row)

    def _item(
        self, form: str, item_data: etree._Element, instance: _Instance, group: str, row: int
    ) -> None:
        oid = item_data.get("ItemOID", "")
        found = self.lookup.items.get((form, oid))
        if found is None:
            self.problem(
                item_data,
                "ItemOID",
                _("no item %(oid)s in the form %(form)s.") % {"oid": repr(oid), "form": form},
            )
            return
        name, kind = found
        if kind in {"calculated", "file"}:
            # Calculated values are computed again by the study's rules; files are not in ODM.
            self.recomputed += 1
            return
        raw = "" if item_data.get("IsNull") == "Yes" else item_data.get("Value", "")
        if item_data.get("TransactionType") == "Remove":
            raw = ""
        value: Any = Missing(raw) if raw in self.lookup.missing_codes else raw
        if row:
            target = instance.rows.setdefault(group, {}).get(row)
            if target is None:
                target = instance.rows[group][row] = {}
            target[name] = value
        else:
            instance.values[name] = value

    def records(self) -> list[FormRecord]:
        return [
            FormRecord(
                subject=subject,
                event=event,
                form=form,
                occurrence=occurrence,
                repeat=repeat,
                values=instance.values,
                rows=instance.rows,
                source=instance.source,
            )
            for (subject, event, occurrence, form, repeat), instance in self.instances.items()
        ]


@dataclass(frozen=True)
class OdmDataImport:
    outcome: ImportOutcome
    recomputed: int  # calculated values in the file, computed again rather than imported


def odm_data_import(
    *,
    actor: User | SystemActor,
    study: Study,
    root: etree._Element,
    reason: str,
    name: str = "ODM file",
    dry_run: bool = False,
) -> OdmDataImport:
    """Import the clinical data of a parsed ODM file into the study, all or nothing.

    Every element that cannot be placed (an unknown subject, event, form, group or item) and
    every value the save pipeline refuses is a problem: a dry run returns them all; an import
    refuses with them (`ImportRefused`) and writes nothing."""
    if not reason.strip():
        raise ValidationError(
            _("reason: say why these data are imported (kept in the audit trail).")
        )
    version = study.current_version
    if version is None:
        raise ValidationError(
            _("%(study)s has no published version.") % {"study": study.identifier}
        )
    reader = _Reader(study, version.parsed(), name)
    reader.read(root)
    if reader.problems and not dry_run:
        raise ImportRefused(reader.problems)
    records: Sequence[FormRecord] = reader.records()
    outcome = forms_import(
        actor=actor,
        study=study,
        records=records,
        reason=reason,
        dry_run=dry_run or bool(reader.problems),
    )
    outcome.problems[:0] = reader.problems
    return OdmDataImport(outcome=outcome, recomputed=reader.recomputed)
