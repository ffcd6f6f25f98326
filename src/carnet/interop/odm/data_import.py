"""An ODM 1.3.2 file's clinical data into a study, through the bulk import path.

Each FormData becomes one record of `forms_import` (capture/bulk): the same guards, validation,
calculations, checks and audit as a save, all or nothing, or a dry run that writes nothing. The
study's elements are found by OID (StudyEventOID, FormOID, ItemGroupOID, ItemOID; a Carnet ODM
export writes the study's own), subjects by SubjectKey among the study's subjects (an import does
not create subjects). A transactional file's changes are applied in file order, the last one of
each value winning: the values go in as the importer's, with their reason, at Carnet's time.
The file's own AuditRecords (the source system's user, time and reason of each change) are not
replayed as Carnet changes: Carnet's chain records what Carnet did, when it did it. They are kept
as the import's provenance: one `odm.imported` event naming the file (its SHA-256), then one
`odm.source_audit_record` event per AuditRecord, carrying the source's user, location, time,
reason and value, appended to the study's chain at the import, after its values. Every element
that cannot be placed is a problem with its line.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _
from lxml import etree

from carnet.accounts.models import User
from carnet.audit.services import AuditEntry, SystemActor, audit_record_many
from carnet.capture.bulk.engine import (
    FormRecord,
    ImportOutcome,
    ImportRefused,
    Problem,
    forms_import,
)
from carnet.capture.services import Missing
from carnet.core.errors import ValidationError
from carnet.core.hashing import sha256_hex
from carnet.interop.odm.reading import odm, odm_parse
from carnet.studies.definition.model import StudyDefinition
from carnet.studies.models import Study
from carnet.subjects.environments import environment_written


@dataclass
class _Instance:
    source: str
    place: dict[str, Any] = field(default_factory=dict)  # where it is, for its history
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


@dataclass(frozen=True)
class SourceAuditRecord:
    """One change as the source system's audit trail has it: an ODM AuditRecord, where it is."""

    line: int
    subject: str
    event: str = ""
    occurrence: int = 0
    form: str = ""
    repeat: int = 0
    group: str = ""
    row: int = 0
    item: str = ""
    value: str = ""
    transaction: str = ""  # the element's TransactionType (Insert, Update, Remove, Upsert…)
    user: str = ""  # the UserRef's OID, with the AdminData User's name when the file has one
    location: str = ""
    at: str = ""  # DateTimeStamp, as the file gives it
    reason: str = ""
    source_id: str = ""

    def payload(self) -> dict[str, Any]:
        """Return the record as the trail shows it (the keys the trail reads for its place)."""
        return {
            "subject": self.subject,
            "event": self.event,
            "occurrence": self.occurrence,
            "form": self.form,
            "repeat": self.repeat,
            "group": self.group,
            "row": self.row,
            "item": self.item,
            "text": self.value,
            "transaction": self.transaction,
            "source_user": self.user,
            "source_location": self.location,
            "source_time": self.at,
            "source_reason": self.reason,
            "source_id": self.source_id,
            "line": self.line,
        }


def _people(root: etree._Element) -> tuple[dict[str, str], dict[str, str]]:
    """Return the AdminData's users and locations by OID, as names to show."""
    users: dict[str, str] = {}
    locations: dict[str, str] = {}
    for admin in root.iterfind(odm("AdminData")):
        for user in admin.iterfind(odm("User")):
            name = " ".join(
                text
                for tag in ("FirstName", "LastName")
                if (text := (user.findtext(odm(tag)) or "").strip())
            )
            login = (user.findtext(odm("LoginName")) or "").strip()
            users[user.get("OID", "")] = ", ".join(part for part in (name, login) if part)
        for location in admin.iterfind(odm("Location")):
            locations[location.get("OID", "")] = location.get("Name", "")
    return users, locations


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
        self.source_records: list[SourceAuditRecord] = []
        self.users: dict[str, str] = {}
        self.locations: dict[str, str] = {}
        self.subjects = {
            subject.identifier: subject
            for subject in study.subjects.filter(
                environment=environment_written(study)
            ).select_related("site", "study")
        }

    def problem(self, element: etree._Element, place: str, message: str) -> None:
        self.problems.append(Problem(f"{self.name}:{element.sourceline}", place, message))

    def keep_history(self, element: etree._Element, **place: Any) -> None:
        """Keep the element's AuditRecord (if it has one) as the source's history of ``place``."""
        record = element.find(odm("AuditRecord"))
        if record is None:
            return
        user_ref = record.find(odm("UserRef"))
        user = user_ref.get("UserOID", "") if user_ref is not None else ""
        location_ref = record.find(odm("LocationRef"))
        location = location_ref.get("LocationOID", "") if location_ref is not None else ""
        if self.users.get(user):
            user = f"{user} ({self.users[user]})"
        if self.locations.get(location):
            location = f"{location} ({self.locations[location]})"
        self.source_records.append(
            SourceAuditRecord(
                line=element.sourceline or 0,
                transaction=element.get("TransactionType", ""),
                user=user,
                location=location,
                at=(record.findtext(odm("DateTimeStamp")) or "").strip(),
                reason=(record.findtext(odm("ReasonForChange")) or "").strip(),
                source_id=(record.findtext(odm("SourceID")) or "").strip(),
                **place,
            )
        )

    def read(self, root: etree._Element) -> None:
        self.users, self.locations = _people(root)
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
                self.keep_history(subject_data, subject=key)
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
        self.keep_history(
            event_data, subject=subject.identifier, event=event, occurrence=occurrence
        )
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
            self.keep_history(
                form_data,
                subject=subject.identifier,
                event=event,
                occurrence=occurrence,
                form=form,
                repeat=repeat,
            )
            key = (subject, event, occurrence, form, repeat)
            instance = self.instances.setdefault(
                key, _Instance(f"{self.name}:{form_data.sourceline}")
            )
            instance.place = {
                "subject": subject.identifier,
                "event": event,
                "occurrence": occurrence,
                "form": form,
                "repeat": repeat,
            }
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
        self.keep_history(group_data, **instance.place, group=group, row=row)
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
        self.keep_history(
            item_data,
            **instance.place,
            group=group,
            row=row,
            item=name,
            value="" if item_data.get("IsNull") == "Yes" else item_data.get("Value", ""),
        )
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
    source_records: int = 0  # the file's AuditRecords, kept as the import's provenance
    import_id: str = ""  # names the import's provenance events in the trail (none on a dry run)


def _provenance_record(
    *,
    actor: User | SystemActor,
    study: Study,
    root: etree._Element,
    reader: _Reader,
    name: str,
    sha256: str,
    reason: str,
    outcome: ImportOutcome,
) -> str:
    """Append the import's provenance to the study's chain and return the import's id.

    Carnet's events keep Carnet's time and the importer as their actor: the source system's
    user, time and reason are values of the events, never the chain's own (which stays in the
    order and at the time Carnet wrote it)."""
    import_id = uuid.uuid4().hex[:16]
    target = ("odm_import", import_id)
    entries = [
        AuditEntry(
            action="odm.imported",
            target=target,
            new={
                "file": name,
                "sha256": sha256,
                "file_oid": root.get("FileOID", ""),
                "file_type": root.get("FileType", ""),
                "created": root.get("CreationDateTime", ""),
                "source_system": root.get("SourceSystem", ""),
                "source_system_version": root.get("SourceSystemVersion", ""),
                "originator": root.get("Originator", ""),
                "records": outcome.records,
                "values_changed": outcome.values_changed,
                "source_audit_records": len(reader.source_records),
            },
            reason=reason,
        )
    ]
    entries.extend(
        AuditEntry(
            action="odm.source_audit_record",
            target=target,
            new=record.payload(),
            reason=reason,
        )
        for record in reader.source_records
    )
    audit_record_many(actor=actor, entries=entries, chain=study.audit_chain)
    return import_id


def odm_data_import(
    *,
    actor: User | SystemActor,
    study: Study,
    root: etree._Element,
    reason: str,
    name: str = "ODM file",
    dry_run: bool = False,
    sha256: str = "",
) -> OdmDataImport:
    """Import the clinical data of a parsed ODM file into the study, all or nothing.

    Every element that cannot be placed (an unknown subject, event, form, group or item) and
    every value the save pipeline refuses is a problem: a dry run returns them all; an import
    refuses with them (`ImportRefused`) and writes nothing. The file's AuditRecords are kept
    as the import's provenance (``sha256``: the file's, named in it)."""
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
    if dry_run or reader.problems:
        outcome = forms_import(
            actor=actor, study=study, records=records, reason=reason, dry_run=True
        )
        outcome.problems[:0] = reader.problems
        return OdmDataImport(
            outcome=outcome,
            recomputed=reader.recomputed,
            source_records=len(reader.source_records),
        )
    with transaction.atomic():
        outcome = forms_import(actor=actor, study=study, records=records, reason=reason)
        import_id = _provenance_record(
            actor=actor,
            study=study,
            root=root,
            reader=reader,
            name=name,
            sha256=sha256,
            reason=reason,
            outcome=outcome,
        )
    return OdmDataImport(
        outcome=outcome,
        recomputed=reader.recomputed,
        source_records=len(reader.source_records),
        import_id=import_id,
    )


def odm_file_import(
    *,
    actor: User | SystemActor,
    study: Study,
    data: bytes,
    reason: str,
    name: str = "ODM file",
    dry_run: bool = False,
) -> OdmDataImport:
    """Read an ODM file's bytes safely (size limit, no DTD or entity, the official schema) and
    import its clinical data into the study (`odm_data_import`): the command, the API and the
    import page call this."""
    if not reason.strip():
        raise ValidationError(
            _("reason: say why these data are imported (kept in the audit trail).")
        )
    root = odm_parse(data, name=name)
    return odm_data_import(
        actor=actor,
        study=study,
        root=root,
        reason=reason,
        name=name,
        dry_run=dry_run,
        sha256=sha256_hex(data),
    )
