"""REDCap data dictionaries in and out of Carnet's study definition.

In: a data dictionary CSV (as REDCap's "Download the Data Dictionary" writes it, or the API's
metadata as CSV) and, for a longitudinal project, its arms, events and instrument–event
mapping CSVs, become a study definition YAML (docs/study-format.md). Branching logic and
calculations go through the expression language's REDCap translator. Whatever cannot be
carried over is listed with its field and the line of the dictionary it is on: nothing is
dropped silently.

Out: a study definition as a data dictionary CSV (the rows the API's ``metadata`` gives).
"""

from __future__ import annotations

import csv
import html
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML

from carnet.expressions import RedcapTranslationError, translate_redcap
from carnet.redcap.project import METADATA_COLUMNS, RedcapProject
from carnet.studies.definition.model import StudyDefinition
from carnet.studies.definition.validation import symbol_table

# REDCap's dictionary headers, in its column order, and the API's names for them.
DICTIONARY_HEADERS = (
    "Variable / Field Name",
    "Form Name",
    "Section Header",
    "Field Type",
    "Field Label",
    "Choices, Calculations, OR Slider Labels",
    "Field Note",
    "Text Validation Type OR Show Slider Number",
    "Text Validation Min",
    "Text Validation Max",
    "Identifier?",
    "Branching Logic (Show field only if...)",
    "Required Field?",
    "Custom Alignment",
    "Question Number (surveys only)",
    "Matrix Group Name",
    "Matrix Ranking?",
    "Field Annotation",
)
_COLUMN_OF = {
    header.lower(): name for header, name in zip(DICTIONARY_HEADERS, METADATA_COLUMNS, strict=False)
}
_COLUMN_OF.update({name: name for name in METADATA_COLUMNS})

NAME_LENGTH = 32
# Text validations and what they become: (Carnet type, regular expression).
VALIDATIONS: dict[str, tuple[str, str]] = {
    "integer": ("integer", ""),
    "number": ("decimal", ""),
    "date_ymd": ("date", ""),
    "date_dmy": ("date", ""),
    "date_mdy": ("date", ""),
    "datetime_ymd": ("datetime", ""),
    "datetime_dmy": ("datetime", ""),
    "datetime_mdy": ("datetime", ""),
    "datetime_seconds_ymd": ("datetime", ""),
    "datetime_seconds_dmy": ("datetime", ""),
    "datetime_seconds_mdy": ("datetime", ""),
    "time": ("time", ""),
    "email": ("text", r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
    "alpha_only": ("text", r"^[A-Za-z]+$"),
    "zipcode": ("text", r"^[0-9]{5}(-[0-9]{4})?$"),
    "postalcode_french": ("text", r"^[0-9]{5}$"),
    "phone": ("text", r"^[0-9 ()+.-]{7,20}$"),
}
_NUMBER_DP = re.compile(r"number_(\d)dp(_comma_decimal)?")
_TAG = re.compile(r"<[^>]+>")
_PIPING = re.compile(r"\[[a-z][a-z0-9_]*(\([^)]*\))?\]")
_CARNET_FLAG = re.compile(r"@CARNET-(ARM_REVEALING|SDV_CRITICAL)")


@dataclass(frozen=True)
class NotCarried:
    """Something of the dictionary that the study definition does not hold, and why."""

    line: int
    field: str
    what: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "project"
        return f"{where}, {self.field or '-'}: {self.what}"


@dataclass
class DictionaryImport:
    """The study definition made from a dictionary (YAML-ready data) and what was left out."""

    data: dict[str, Any]
    not_carried: list[NotCarried] = field(default_factory=list)

    def yaml(self) -> str:
        out = io.StringIO()
        yaml = YAML()
        yaml.default_flow_style = False
        yaml.width = 100
        yaml.dump(self.data, out)
        return out.getvalue()


def _rows(text: str) -> list[dict[str, str]]:
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    lines = list(reader)
    if not lines:
        return []
    columns = [_COLUMN_OF.get(header.strip().lower(), "") for header in lines[0]]
    if "field_name" not in columns:
        columns = list(METADATA_COLUMNS)  # no known header: REDCap's column order
        lines.insert(0, [])
    return [
        {name: cell.strip() for name, cell in zip(columns, line, strict=False) if name}
        for line in lines[1:]
    ]


def _plain(text: str) -> str:
    """Return a label without its HTML (REDCap labels may carry tags and entities)."""
    return html.unescape(_TAG.sub("", text)).strip()


def _choices(text: str) -> list[tuple[str, str]]:
    found = []
    for part in text.split("|"):
        if not part.strip():
            continue
        code, _sep, label = part.partition(",")
        found.append((code.strip(), _plain(label) or code.strip()))
    return found


def _number(text: str) -> int | float | str:
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() and "." not in text else number


class _Importer:
    def __init__(
        self,
        *,
        identifier: str,
        title: str,
        language: str,
        identifiers: str,
    ) -> None:
        self.language = language
        self.identifiers = identifiers
        self.not_carried: list[NotCarried] = []
        self.code_lists: list[dict[str, Any]] = []
        self._code_list_of: dict[tuple[tuple[str, str], ...], str] = {}
        self.forms: list[dict[str, Any]] = []
        self.rules: list[tuple[int, dict[str, Any], str, str]] = []  # line, item, kind, logic
        self.record_id = ""
        self.data: dict[str, Any] = {
            "format": "carnet-study/1",
            "study": {
                "identifier": identifier,
                "acronym": identifier,
                "title": {language: title or identifier},
                "phase": "not applicable",
                "sponsor": "-",
                # REDCap numbers records 1, 2, 3…: subjects included in that order keep them.
                "subject_identifier": "{seq}",
            },
        }

    def note(self, line: int, name: str, what: str) -> None:
        self.not_carried.append(NotCarried(line, name, what))

    def label(self, text: str) -> dict[str, str]:
        return {self.language: text}

    # --- fields --------------------------------------------------------------------------

    def fields(self, rows: list[dict[str, str]]) -> None:
        form: dict[str, Any] | None = None
        group: dict[str, Any] | None = None
        matrix = ""
        for line, row in enumerate(rows, start=2):
            name = row.get("field_name", "")
            form_name = row.get("form_name", "")
            if not name or not form_name:
                self.note(line, name, "a row without a field name or form name")
                continue
            if not self.record_id:
                self.record_id = name
                self.note(
                    line,
                    name,
                    "the record ID field: Carnet's subject identifier, not an item "
                    "(the REDCap API names it record_id)",
                )
                continue
            if form is None or form["name"] != form_name:
                form = {
                    "name": form_name,
                    "label": self.label(_form_label(form_name)),
                    "groups": [],
                }
                self.forms.append(form)
                group, matrix = None, ""
            header = _plain(row.get("section_header", ""))
            row_matrix = row.get("matrix_group_name", "")
            if group is None or header or row_matrix != matrix:
                group = {
                    "name": f"{form_name}_{len(form['groups']) + 1}"[:NAME_LENGTH],
                    "items": [],
                }
                if header:
                    group["label"] = self.label(header)
                form["groups"].append(group)
                matrix = row_matrix
            item = self.item(line, name, row)
            if item is not None:
                group["items"].append(item)
        for entry in self.forms:
            entry["groups"] = [g for g in entry["groups"] if g["items"]]
        dropped = [f["name"] for f in self.forms if not f["groups"]]
        for name in dropped:
            self.note(0, name, "a form with no item Carnet can hold: left out")
        self.forms = [f for f in self.forms if f["groups"]]

    def item(self, line: int, name: str, row: dict[str, str]) -> dict[str, Any] | None:
        kind = row.get("field_type", "")
        if len(name) > NAME_LENGTH or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            self.note(
                line,
                name,
                f"the name is not a Carnet item name (a-z, 0-9, _, at most "
                f"{NAME_LENGTH} characters): left out",
            )
            return None
        label = _plain(row.get("field_label", "")) or name
        if _PIPING.search(row.get("field_label", "")):
            self.note(line, name, "piping in the label is shown as written, not replaced")
        item: dict[str, Any] = {"name": name, "label": self.label(label)}
        method = getattr(self, f"_type_{kind}", None)
        if method is None:
            self.note(line, name, f"the field type {kind!r} has no Carnet equivalent: left out")
            return None
        if method(line, name, row, item) is False:
            return None
        if row.get("identifier", "").lower() == "y":
            if self.identifiers == "refuse":
                self.note(line, name, "an identifier field: refused (no identifying data)")
                return None
            item["flags"] = ["identifying"]
        if row.get("required_field", "").lower() == "y":
            item["required"] = True
        note = _plain(row.get("field_note", ""))
        if note:
            item["guideline"] = self.label(note)
        self._annotation(line, name, row.get("field_annotation", ""), item)
        if row.get("branching_logic"):
            self.rules.append((line, item, "show_if", row["branching_logic"]))
        return item

    def _annotation(self, line: int, name: str, text: str, item: dict[str, Any]) -> None:
        flags = [flag.lower() for flag in _CARNET_FLAG.findall(text)]
        if flags:
            item["flags"] = sorted({*item.get("flags", []), *flags})
        rest = _CARNET_FLAG.sub("", text).strip()
        if rest:
            self.note(line, name, f"the field annotation {rest!r} (action tags) is not carried")

    def _type_text(self, line: int, name: str, row: dict[str, str], item: dict[str, Any]) -> None:
        validation = row.get("text_validation_type_or_show_slider_number", "")
        item["type"] = "text"
        decimals = _NUMBER_DP.fullmatch(validation)
        if decimals:
            item.update(type="decimal", decimals=int(decimals.group(1)))
        elif validation in VALIDATIONS:
            kind, regex = VALIDATIONS[validation]
            item["type"] = kind
            if regex:
                item["regex"] = regex
        elif validation:
            self.note(line, name, f"the validation {validation!r} is not carried: free text")
        self._range(line, name, row, item)

    def _range(self, line: int, name: str, row: dict[str, str], item: dict[str, Any]) -> None:
        limits: dict[str, Any] = {}
        for key in ("min", "max"):
            text = row.get(f"text_validation_{key}", "")
            if not text:
                continue
            if item["type"] in {"integer", "decimal"} and isinstance(_number(text), int | float):
                limits[key] = _number(text)
            elif item["type"] == "date" and re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
                limits[key] = text
            else:
                self.note(line, name, f"the {key}imum {text!r} is not carried")
        if limits:
            item["range"] = limits

    def _type_notes(self, line: int, name: str, row: dict[str, str], item: dict[str, Any]) -> None:
        item["type"] = "text"

    def _type_yesno(self, line: int, name: str, row: dict[str, str], item: dict[str, Any]) -> None:
        # A code list rather than a boolean: REDCap stores 1 and 0, and its logic compares
        # them as such ([dose_reduced] = '1').
        yes_no = row.get("field_type") == "yesno"
        choices = "1, Yes | 0, No" if yes_no else "1, True | 0, False"
        code_list = self._choice_list(
            line,
            name,
            {
                "select_choices_or_calculations": choices,
                "matrix_group_name": "yes_no" if yes_no else "true_false",
            },
        )
        item.update(type="single_choice", code_list=code_list)

    _type_truefalse = _type_yesno

    def _choice_list(self, line: int, name: str, row: dict[str, str]) -> str | None:
        choices = _choices(row.get("select_choices_or_calculations", ""))
        if not choices:
            self.note(line, name, "a choice field without choices: left out")
            return None
        key = tuple(choices)
        if key not in self._code_list_of:
            integer = all(re.fullmatch(r"-?\d+", code) for code, _label in choices)
            list_name = (row.get("matrix_group_name") or name)[:NAME_LENGTH]
            taken = {c["name"] for c in self.code_lists}
            while list_name in taken:
                list_name = f"{list_name[: NAME_LENGTH - 2]}_{len(taken)}"
            self.code_lists.append(
                {
                    "name": list_name,
                    "type": "integer" if integer else "text",
                    "items": [
                        {"code": int(code) if integer else code, "label": self.label(label)}
                        for code, label in choices
                    ],
                }
            )
            self._code_list_of[key] = list_name
        return self._code_list_of[key]

    def _type_radio(self, line: int, name: str, row: dict[str, str], item: dict[str, Any]) -> bool:
        code_list = self._choice_list(line, name, row)
        item.update(type="single_choice", code_list=code_list)
        return code_list is not None

    _type_dropdown = _type_radio

    def _type_checkbox(
        self, line: int, name: str, row: dict[str, str], item: dict[str, Any]
    ) -> bool:
        code_list = self._choice_list(line, name, row)
        item.update(type="multiple_choice", code_list=code_list)
        return code_list is not None

    def _type_slider(self, line: int, name: str, row: dict[str, str], item: dict[str, Any]) -> None:
        item.update(type="integer", range={"min": 0, "max": 100})
        self.note(line, name, "a slider: entered as an integer from 0 to 100")

    def _type_file(self, line: int, name: str, row: dict[str, str], item: dict[str, Any]) -> None:
        item["type"] = "file"

    def _type_calc(self, line: int, name: str, row: dict[str, str], item: dict[str, Any]) -> None:
        item.update(type="calculated", result_type="decimal", calculation="0")
        self.rules.append(
            (line, item, "calculation", row.get("select_choices_or_calculations", ""))
        )

    def _type_descriptive(
        self, line: int, name: str, row: dict[str, str], item: dict[str, Any]
    ) -> bool:
        self.note(line, name, "descriptive text (no value): not an item; its text is left out")
        return False

    # --- events and rules -------------------------------------------------------------------

    def events(
        self,
        events: list[dict[str, str]],
        mapping: list[dict[str, str]],
        arms: list[dict[str, str]],
        repeating: list[dict[str, str]],
    ) -> dict[str, str]:
        """Build the events; return REDCap unique event names -> Carnet events."""
        form_names = [f["name"] for f in self.forms]
        if len(arms) > 1:
            self.note(
                0,
                "",
                f"{len(arms)} arms: Carnet has one schedule; the events of every "
                "arm are merged by name (treatment arms are Carnet's arms)",
            )
        if not events:
            self.data["events"] = [
                {
                    "name": "event_1",
                    "label": self.label("Event 1"),
                    "schedule": {"anchor": "inclusion"},
                    "forms": form_names,
                }
            ]
            self._repeating_forms(repeating)
            return {"event_1_arm_1": "event_1"}
        carnet: dict[str, dict[str, Any]] = {}
        renames: dict[str, str] = {}
        for row in events:
            unique = row.get("unique_event_name") or _slug(row.get("event_name", ""))
            name = re.sub(r"_arm_\d+[a-z]?$", "", unique)[:NAME_LENGTH] or "event"
            renames[unique] = name
            if name in carnet:
                continue
            event: dict[str, Any] = {
                "name": name,
                "label": self.label(row.get("event_name") or name),
                "forms": [],
            }
            offset = _number(row.get("day_offset", "") or "0")
            if isinstance(offset, int | float):
                window = {
                    "before": int(_number(row.get("offset_min", "0") or "0")),
                    "after": int(_number(row.get("offset_max", "0") or "0")),
                }
                event["schedule"] = {
                    "anchor": "inclusion",
                    "offset_days": int(offset),
                    "window": window,
                }
            carnet[name] = event
        for row in mapping:
            event_name = renames.get(row.get("unique_event_name", ""))
            form = row.get("form", "")
            if event_name is None:
                self.note(0, form, f"mapped to an unknown event {row.get('unique_event_name')!r}")
                continue
            if form in form_names and form not in carnet[event_name]["forms"]:
                carnet[event_name]["forms"].append(form)
        for row in repeating:
            event_name = renames.get(row.get("event_name", ""))
            if event_name and not row.get("form_name"):
                event = carnet[event_name]
                event.pop("schedule", None)
                event["unscheduled"] = True
        self._repeating_forms(repeating)
        empty = [name for name, event in carnet.items() if not event["forms"]]
        for name in empty:
            self.note(0, name, "an event with no form: left out")
        self.data["events"] = [e for e in carnet.values() if e["forms"]]
        return renames

    def _repeating_forms(self, repeating: list[dict[str, str]]) -> None:
        names = {row.get("form_name", "") for row in repeating}
        for form in self.forms:
            if form["name"] in names:
                form["repeating"] = True

    def translate(self, renames: dict[str, str]) -> None:
        self.data["code_lists"] = self.code_lists
        self.data["forms"] = self.forms
        symbols = symbol_table(self.data)
        for line, item, kind, logic in self.rules:
            try:
                text = translate_redcap(logic, events=renames, symbols=symbols)
            except RedcapTranslationError as error:
                what = "branching logic" if kind == "show_if" else "calculation"
                reasons = "; ".join(problem.message for problem in error.problems)
                if kind == "calculation":
                    item.pop("calculation")
                    item.pop("result_type")
                    item["type"] = "decimal"
                    self.note(
                        line,
                        item["name"],
                        f"the {what} {logic!r} is not translated ({reasons}): entered by hand",
                    )
                else:
                    self.note(
                        line,
                        item["name"],
                        f"the {what} {logic!r} is not translated ({reasons}): always shown",
                    )
                continue
            item[kind] = text


def _form_label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _csv(text: str | None) -> list[dict[str, str]]:
    if not text:
        return []
    return [
        {k.strip(): (v or "").strip() for k, v in row.items() if k}
        for row in csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    ]


def dictionary_import(
    dictionary: str,
    *,
    identifier: str,
    title: str = "",
    language: str = "en",
    identifiers: str = "refuse",
    events: str | None = None,
    mapping: str | None = None,
    arms: str | None = None,
    repeating: str | None = None,
) -> DictionaryImport:
    """Return the study definition made from a REDCap data dictionary (CSV text) and, for a
    longitudinal project, its events, instrument–event mapping, arms and repeating-forms CSVs.

    ``identifiers`` says what becomes of identifier fields: ``refuse`` (left out, listed) or
    ``identifying`` (kept, flagged identifying: encrypted, never exported).
    """
    importer = _Importer(
        identifier=identifier, title=title, language=language, identifiers=identifiers
    )
    importer.fields(_rows(dictionary))
    renames = importer.events(_csv(events), _csv(mapping), _csv(arms), _csv(repeating))
    importer.translate(renames)
    data = importer.data
    ordered = {key: data[key] for key in ("format", "study") if key in data}
    ordered["code_lists"] = data["code_lists"]
    ordered["events"] = data["events"]
    ordered["forms"] = data["forms"]
    if not ordered["code_lists"]:
        del ordered["code_lists"]
    return DictionaryImport(ordered, importer.not_carried)


# --- out ----------------------------------------------------------------------------------------


def dictionary_rows(definition: StudyDefinition, *, unblinded: bool) -> list[dict[str, str]]:
    """Return a study definition as data dictionary rows (the API's ``metadata``)."""
    project = RedcapProject(definition, unblinded=unblinded, identifying=True)
    return [project.metadata_row(f) for f in project.fields]


def dictionary_csv(rows: Iterable[dict[str, str]]) -> str:
    """Return dictionary rows as REDCap's data dictionary CSV (its own headers)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(DICTIONARY_HEADERS)
    for row in rows:
        writer.writerow([row.get(column, "") for column in METADATA_COLUMNS])
    return out.getvalue()
