"""Reads for the REDCap API: records as REDCap exports them, the log, users and data access
groups; always scoped to the sites where the token's person may view subjects, in the
environment they look at, through the blinding policy (what `RedcapProject` shows)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final

from django.db.models import Q

from carnet.accounts.models import Membership, StudySite, User
from carnet.accounts.permissions import site_scope
from carnet.accounts.roles import GRANTS, Action
from carnet.capture.models import FormInstance, FormStatus, ItemValue
from carnet.core.clock import utc_today
from carnet.expressions import (
    CheckedExpression,
    ExpressionError,
    RedcapTranslationError,
    ValueType,
    check,
    evaluate,
    parse,
    references,
    translate_redcap,
)
from carnet.oversight.trail import TrailFilters, trail_rows
from carnet.redcap.formats import RedcapError
from carnet.redcap.project import (
    Field,
    RedcapProject,
    checkbox_column,
    event_of_unique_name,
    event_unique_name,
)
from carnet.studies.definition.model import Item
from carnet.studies.definition.validation import symbol_table
from carnet.studies.models import Study
from carnet.subjects.models import Subject
from carnet.subjects.selectors import subjects_visible

# Subjects read at a time: their instances and values fit in memory whatever the study size.
CHUNK = 500
KEY_COLUMNS = ("redcap_event_name", "redcap_repeat_instrument", "redcap_repeat_instance")
DAG_COLUMN = "redcap_data_access_group"
COMPLETE = {FormStatus.COMPLETE: "2"}
COMPLETE_LABELS = {"0": "Incomplete", "1": "Unverified", "2": "Complete"}


def dag_name(site: StudySite) -> str:
    """Return a site's unique data access group name (``site_01``)."""
    return f"site_{site.code}".lower()


@dataclass(frozen=True)
class RecordQuery:
    """What a record export asks for, in REDCap's parameters."""

    records: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()
    forms: tuple[str, ...] = ()
    events: tuple[str, ...] = ()
    raw_or_label: str = "raw"  # raw | label | both (both: labels, events by unique name)
    label_headers: bool = False
    checkbox_labels: bool = False
    filter_logic: str = ""
    begin: datetime | None = None
    end: datetime | None = None
    data_access_groups: bool = False


@dataclass
class RecordExport:
    """The columns of an export and its rows, read subject by subject as they are asked for."""

    columns: list[str]
    headers: list[str]
    rows: Iterator[dict[str, Any]]
    selected: list[tuple[str, Field | None, str]] = field(default_factory=list)


def _selection(project: RedcapProject, query: RecordQuery) -> list[tuple[str, Field | None, str]]:
    """Return the value columns asked for, in metadata order: (column, field, code); a
    form's ``<instrument>_complete`` column has no field."""
    # A checkbox's export columns (sites___2) name their field too.
    exported = {
        column: fld.name
        for fld in project.fields
        if fld.checkbox
        for column, _code in project.export_columns(fld)
    }
    wanted = {exported.get(name, name) for name in query.fields}
    known = set(project.field_by_name) | {f"{i.name}_complete" for i in project.instruments}
    unknown = sorted(wanted - known)
    if unknown:
        raise RedcapError(
            'The following values in the parameter "fields" are not valid: ' + ", ".join(unknown)
        )
    forms = set(query.forms)
    bad_forms = sorted(forms - set(project.instrument_by_name))
    if bad_forms:
        raise RedcapError(
            'The following values in the parameter "forms" are not valid: ' + ", ".join(bad_forms)
        )
    everything = not wanted and not forms
    selected: list[tuple[str, Field | None, str]] = []
    for instrument in project.instruments:
        whole = everything or instrument.name in forms
        for fld in project.fields:
            if fld.instrument is not instrument:
                continue
            if fld.item is None:
                continue  # the record identifier: the export's first column already
            if whole or fld.name in wanted:
                selected.extend((c, fld, code) for c, code in project.export_columns(fld))
        complete = f"{instrument.name}_complete"
        if whole or complete in wanted:
            selected.append((complete, None, ""))
    return selected


def _header(project: RedcapProject, column: str, fld: Field | None, code: str) -> str:
    if fld is None:
        instrument = project.instrument_by_name[column.removesuffix("_complete")]
        return "Complete?" if not instrument.label else f"{instrument.label} Complete?"
    if fld.item is None:
        return "Record ID"
    label = fld.item.label.en or fld.name
    if code:
        choice = dict(project.choices(fld.item)).get(code, code)
        return f"{label} (choice={choice})"
    return label


def records_export(
    actor: User, *, study: Study, project: RedcapProject, query: RecordQuery
) -> RecordExport:
    """Return the study's records as REDCap's flat export, as the actor may see them."""
    subjects = subjects_visible(actor, study=study)
    if query.records:
        subjects = subjects.filter(identifier__in=query.records)
    events = {event_of_unique_name(e) for e in query.events}
    unknown = sorted(events - {e.name for e in project.definition.events})
    if unknown:
        raise RedcapError(
            'The following values in the parameter "events" are not valid: '
            + ", ".join(event_unique_name(e) for e in unknown)
        )
    selected = _selection(project, query)
    logic = _filter_compile(project, query.filter_logic) if query.filter_logic else None
    columns = [project.record_id, *key_columns(project)]
    if query.data_access_groups:
        columns.append(DAG_COLUMN)
    columns += [column for column, _f, _c in selected]
    headers = [
        "Record ID" if c == project.record_id else c
        for c in columns[: len(columns) - len(selected)]
    ] + [_header(project, c, f, code) for c, f, code in selected]
    reader = _RecordReader(project, query, selected, events, logic)
    return RecordExport(columns, headers, reader.rows(subjects), selected)


# What an export reads of one item value: (form instance id, item, row, text, missing code), a
# plain tuple as the database driver gives it (a named tuple per value was a tenth of an export).
StoredValue = tuple[int, str, int, str, str]
ITEM: Final = 1
ROW: Final = 2
TEXT: Final = 3
MISSING: Final = 4


class _RecordReader:
    def __init__(
        self,
        project: RedcapProject,
        query: RecordQuery,
        selected: list[tuple[str, Field | None, str]],
        events: set[str],
        logic: CheckedExpression | None,
    ) -> None:
        self.project = project
        self.query = query
        self.selected = selected
        self.events = events
        self.logic = logic
        self.repeating_events = {e.name for e in project.events() if e.repeating}
        self.event_labels = {e.name: e.label for e in project.events()}
        self.labels = query.raw_or_label in {"label", "both"}
        self.keys = key_columns(project)
        self.selected_columns = [column for column, _fld, _code in selected]

    def rows(self, subjects: Any) -> Iterator[dict[str, Any]]:
        chunk: list[Subject] = []
        for subject in subjects.select_related("site").iterator(chunk_size=CHUNK):
            chunk.append(subject)
            if len(chunk) == CHUNK:
                yield from self._chunk(chunk)
                chunk = []
        if chunk:
            yield from self._chunk(chunk)

    def _instances(self, subjects: list[Subject]) -> list[FormInstance]:
        instances = FormInstance.objects.filter(
            subject__in=subjects, environment=subjects[0].environment
        ).exclude(status=FormStatus.NOT_STARTED, version=0)
        if self.events:
            instances = instances.filter(event__in=self.events)
        query = self.query
        if query.begin or query.end:
            touched = FormInstance.objects.filter(subject__in=subjects)
            if query.begin:
                touched = touched.filter(updated_at__gte=query.begin)
            if query.end:
                touched = touched.filter(updated_at__lte=query.end)
            instances = instances.filter(subject_id__in=touched.values("subject_id"))
        # Only what the rows need: whole instances (their times parsed) were a sixth of an export.
        fields = ("id", "subject_id", "event", "occurrence", "form", "repeat", "status")
        return list(instances.order_by().only(*fields))

    def _chunk(self, subjects: list[Subject]) -> Iterator[dict[str, Any]]:
        instances = self._instances(subjects)
        values: dict[int, list[StoredValue]] = defaultdict(list)
        # Plain tuples, not model instances: building instances was most of an export's time.
        stored = (
            ItemValue.objects.filter(form_instance__in=[i.pk for i in instances], removed=False)
            .order_by()
            .values_list("form_instance_id", "item", "row", "text", "missing_code")
        )
        for value in stored:
            values[value[0]].append(value)
        by_subject: dict[int, list[FormInstance]] = defaultdict(list)
        for instance in instances:
            by_subject[instance.subject_id].append(instance)
        for subject in subjects:
            rows = self._subject_rows(subject, by_subject.get(subject.pk, []), values)
            if self.logic is not None:
                rows = [row for row in rows if self._kept(row, rows)]
            yield from (self._shown(row) for row in rows)

    def _key(self, instance: FormInstance, group: str | None) -> tuple[str, str, Any]:
        project = self.project
        form = project.definition.form(instance.form)
        if group is not None:
            instrument = project.instrument_of_group.get((form.name, group))
            if instrument is not None and instrument.group is not None:
                return (instance.event, instrument.name, 0)  # the row, filled by the caller
        if form.repeating:
            return (instance.event, form.name, instance.repeat)
        if instance.event in self.repeating_events or instance.occurrence > 1:
            return (instance.event, "", instance.occurrence)
        return (instance.event, "", "")

    def _subject_rows(
        self,
        subject: Subject,
        instances: list[FormInstance],
        values: dict[int, list[StoredValue]],
    ) -> list[dict[str, Any]]:
        project = self.project
        rows: dict[tuple[str, str, Any], dict[str, Any]] = {}

        def row_of(key: tuple[str, str, Any]) -> dict[str, Any]:
            row = rows.get(key)
            if row is None:
                event, instrument, instance = key
                row = rows[key] = {
                    project.record_id: subject.identifier,
                    "redcap_event_name": event,
                    "redcap_repeat_instrument": instrument,
                    "redcap_repeat_instance": instance,
                    DAG_COLUMN: dag_name(subject.site),
                    "_typed": {},
                }
            return row

        ordered = sorted(instances, key=lambda i: (i.event, i.occurrence, i.form, i.repeat))
        for instance in ordered:
            complete = COMPLETE.get(instance.status, "0")  # type: ignore[call-overload]
            main = row_of(self._key(instance, None))
            main[f"{instance.form}_complete"] = complete
            for value in values.get(instance.pk, []):
                fld = project.field_by_name.get(value[ITEM])
                if fld is None or fld.item is None:
                    continue  # identifying, blinded, or an item of another version
                if value[ROW]:
                    event, instrument, _zero = self._key(instance, fld_group(project, fld))
                    row = row_of((event, instrument, value[ROW]))
                    row[f"{instrument}_complete"] = complete
                else:
                    row = main
                self._put(row, fld, value)
        return list(rows.values())

    def _put(self, row: dict[str, Any], fld: Field, value: StoredValue) -> None:
        item = fld.item
        assert item is not None
        missing = value[MISSING]
        text = missing or value[TEXT]
        row["_typed"][fld.name] = None if missing else (item, value[TEXT])
        if fld.checkbox:
            ticked = set(text.split(",")) if text and not missing else set()
            for code, _label in self.project.choices(item):
                row[checkbox_column(fld.name, code)] = "1" if code in ticked else "0"
            return
        if item.type == "boolean" and not missing:
            text = {"true": "1", "false": "0"}.get(text, text)
        elif item.type == "datetime":
            text = text.replace("T", " ")
        elif item.type == "file" and text:
            text = "[document]"
        row[fld.name] = text

    def _shown(self, row: dict[str, Any]) -> dict[str, Any]:
        """Return a row as the client asked: its columns only, codes or labels."""
        out: dict[str, Any] = {}
        for column in (self.project.record_id, *self.keys):
            out[column] = row[column]
        out["redcap_event_name"] = event_unique_name(row["redcap_event_name"])
        if self.query.raw_or_label == "label":
            out["redcap_event_name"] = self.event_labels.get(row["redcap_event_name"], "")
        if self.query.data_access_groups:
            out[DAG_COLUMN] = row[DAG_COLUMN]
        if not self.labels:
            get = row.get
            out.update({column: get(column, "") for column in self.selected_columns})
            return out
        for column, fld, code in self.selected:
            out[column] = self._label(row.get(column, ""), fld, code)
        return out

    def _label(self, raw: str, fld: Field | None, code: str) -> str:
        if fld is None:
            return COMPLETE_LABELS.get(raw, raw)
        if raw == "" or fld.item is None:
            return raw
        if code:
            if self.query.checkbox_labels:
                return dict(self.project.choices(fld.item)).get(code, "") if raw == "1" else ""
            return "Checked" if raw == "1" else "Unchecked"
        choices = dict(self.project.choices(fld.item))
        return choices.get(raw, raw) if choices else raw

    def _kept(self, row: dict[str, Any], rows: list[dict[str, Any]]) -> bool:
        assert self.logic is not None
        values: dict[str, Any] = {}
        for reference in references(self.logic):
            source = row
            if reference.event is not None:
                source = next(
                    (r for r in rows if r["redcap_event_name"] == reference.event and r["_typed"]),
                    {"_typed": {}},
                )
            values[reference.key] = _typed(self.project, source["_typed"].get(reference.name))
        try:
            return evaluate(self.logic, values) is True
        except ExpressionError:
            return False


def key_columns(project: RedcapProject) -> list[str]:
    """Return the columns after the record ID: the event, and the repeat columns where the
    project repeats anything."""
    return list(KEY_COLUMNS) if project.has_repeating else ["redcap_event_name"]


def fld_group(project: RedcapProject, fld: Field) -> str | None:
    group = fld.instrument.group
    return group.name if group is not None else None


def _typed(project: RedcapProject, stored: tuple[Item, str] | None) -> Any:
    from carnet.capture.values import value_of_text

    if stored is None:
        return None
    item, text = stored
    code_list = project.code_lists.get(item.code_list) if item.code_list else None
    return value_of_text(item, text, code_list=code_list)


def _filter_compile(project: RedcapProject, logic: str) -> CheckedExpression:
    """Return REDCap filter logic translated and checked, or REDCap's error saying why not."""
    definition = project.definition
    events = {event_unique_name(e.name): e.name for e in definition.events}
    shape = _shape(definition)
    symbols = symbol_table(shape)
    try:
        text = translate_redcap(logic, events=events, symbols=symbols)
        return check(parse(text), symbols, expected=ValueType.BOOLEAN)
    except RedcapTranslationError as error:
        raise RedcapError(f"The filter logic cannot be used: {error}") from None
    except ExpressionError as error:
        raise RedcapError(f"The filter logic cannot be used: {error}") from None


def _shape(definition: Any) -> dict[str, Any]:
    """Return the definition in the study file's shape (what `symbol_table` reads)."""
    return {
        "events": [{"name": e.name, "forms": list(e.forms)} for e in definition.events],
        "code_lists": [
            {"name": c.name, "type": c.type, "items": [{"code": i.code} for i in c.items]}
            for c in definition.code_lists
        ],
        "forms": [
            {
                "name": f.name,
                "groups": [
                    {
                        "name": g.name,
                        "repeating": g.repeating,
                        "items": [
                            {
                                "name": i.name,
                                "type": i.type,
                                **({"code_list": i.code_list} if i.code_list else {}),
                                **({"result_type": i.result_type} if i.result_type else {}),
                            }
                            for i in g.items
                        ],
                    }
                    for g in f.groups
                ],
            }
            for f in definition.forms
        ],
    }


def eav_rows(export: RecordExport, project: RedcapProject) -> Iterator[dict[str, Any]]:
    """Return the flat rows of an export as REDCap's EAV rows: one per value."""
    for row in export.rows:
        keys = {"record": row[project.record_id]}
        keys.update((column, row[column]) for column in key_columns(project))
        for column, fld, code in export.selected:
            value = row.get(column, "")
            if code:
                if value in {"1", "Checked"} or (value and export_checkbox_label(value, code)):
                    yield {**keys, "field_name": fld.name if fld else column, "value": code}
                continue
            if value != "":
                yield {**keys, "field_name": column, "value": value}


def export_checkbox_label(value: str, code: str) -> bool:
    return value not in {"0", "Unchecked"}


def eav_columns(project: RedcapProject) -> list[str]:
    return ["record", *key_columns(project), "field_name", "value"]


# --- the log, users, data access groups -------------------------------------------------------


def log_rows(
    actor: User,
    *,
    study: Study,
    user: str = "",
    record: str = "",
    begin: date | None = None,
    end: date | None = None,
) -> Iterator[dict[str, Any]]:
    """Return the study's audit trail as REDCap's log (only for those who may read the trail)."""
    filters = TrailFilters(subject=record, user=user, since=begin, until=end)
    for row in trail_rows(actor, study=study, filters=filters):
        record = _record_of(row.what)
        changed = row.action == "item.changed" and record
        yield {
            "timestamp": row.occurred_at.strftime("%Y-%m-%d %H:%M"),
            # The trail's label is "username (full name)": REDCap's log names the account.
            "username": row.who.split(" (", 1)[0],
            "action": f"Update record {record}" if changed else row.action,
            "details": f"{row.what} = '{row.new}'" if row.new else row.what,
            "record": record,
        }


def _record_of(what: str) -> str:
    return what.split(" ", 1)[0] if what else ""


LOG_COLUMNS = ["timestamp", "username", "action", "details", "record"]


def users_rows(actor: User, *, study: Study) -> list[dict[str, Any]]:
    """Return the people with a role in force in the study, at the sites the actor sees, as
    REDCap's user list (read-only: Carnet's memberships are managed in Carnet)."""
    scope = site_scope(actor, Action.VIEW_SUBJECTS, study=study)
    today = utc_today()
    memberships = (
        Membership.objects.filter(study=study, starts_on__lte=today)
        .filter(Q(ends_on__isnull=True) | Q(ends_on__gte=today))
        .select_related("user", "site")
        .order_by("user__username", "role")
    )
    people: dict[str, dict[str, Any]] = {}
    for membership in memberships:
        if not scope.all_sites and membership.site_id not in scope.site_ids:
            continue
        person = membership.user
        entry = people.setdefault(
            person.username,
            {
                "username": person.username,
                "email": person.email,
                "firstname": person.full_name,
                "lastname": "",
                "expiration": membership.ends_on.isoformat() if membership.ends_on else "",
                "data_access_group": dag_name(membership.site) if membership.site else "",
                "design": 0,
                "api_export": 1,
                "api_import": 0,
                "role": membership.role,
            },
        )
        if membership.role not in str(entry["role"]).split(","):
            entry["role"] = f"{entry['role']},{membership.role}"
        if Action.ENTER_DATA in GRANTS.get(membership.role, frozenset()):
            entry["api_import"] = 1
    return list(people.values())


USER_COLUMNS = [
    "username",
    "email",
    "firstname",
    "lastname",
    "expiration",
    "data_access_group",
    "design",
    "api_export",
    "api_import",
    "role",
]


def dag_rows(actor: User, *, study: Study) -> list[dict[str, Any]]:
    """Return the study's sites the actor may see as REDCap's data access groups."""
    scope = site_scope(actor, Action.VIEW_SUBJECTS, study=study)
    sites = StudySite.objects.filter(study=study).select_related("centre").order_by("code")
    return [
        {
            "data_access_group_name": site.centre.name,
            "unique_group_name": dag_name(site),
            "data_access_group_id": site.pk,
        }
        for site in sites
        if scope.allows(site)
    ]


DAG_COLUMNS = ["data_access_group_name", "unique_group_name", "data_access_group_id"]


def record_file(
    actor: User,
    *,
    study: Study,
    project: RedcapProject,
    record: str,
    field_name: str,
    event: str,
    instance: int,
) -> tuple[str, str, str] | None:
    """Return (sha256, name, content type) of the document a record holds in a file field, or
    None; the record must be one the actor may see."""
    from carnet.capture.models import StoredFile

    fld = project.field_by_name.get(field_name)
    if fld is None or fld.item is None or fld.item.type != "file":
        raise RedcapError(f"The field '{field_name}' is not a file upload field.")
    subject = subjects_visible(actor, study=study).filter(identifier=record).first()
    if subject is None:
        raise RedcapError(f"The record '{record}' does not exist.")
    values = ItemValue.objects.filter(
        form_instance__subject=subject,
        form_instance__environment=subject.environment,
        form_instance__form=fld.instrument.form.name,
        item=field_name,
        removed=False,
    ).exclude(text="")
    if event:
        values = values.filter(form_instance__event=event_of_unique_name(event))
    if fld.instrument.group is not None:
        values = values.filter(row=instance)
    elif fld.instrument.form.repeating:
        values = values.filter(form_instance__repeat=instance)
    value = values.order_by("form_instance__occurrence").first()
    if value is None:
        return None
    stored = StoredFile.objects.filter(study=study, sha256=value.text).first()
    if stored is None:
        return None
    return stored.sha256, stored.original_name, stored.content_type
