"""An ODM 1.3.2 file's metadata as a Carnet study definition (YAML), and what did not carry over.

Everything the study format can hold is carried: events, forms, item groups, items (types,
lengths, decimals, units, ranges, mandatory), code lists, English and French texts, and Carnet's
own branching and calculations (FormalExpression context "Carnet", what its ODM export writes).
Everything else is listed, element by element, with its line: other languages, conditions and
methods in another language, range checks Carnet cannot express, data types it has no type for,
presentation, imputation… Nothing is dropped silently.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.utils.translation import gettext as _
from lxml import etree
from ruamel.yaml import YAML

from carnet.accounts.permissions import may
from carnet.accounts.roles import Action
from carnet.accounts.selectors import my_studies
from carnet.interop.odm.metadata import CONTEXT
from carnet.interop.odm.reading import XML_LANG, OdmRefused, odm, odm_parse, odm_read

NAME_LIMIT = 32
OID = re.compile(r"^[A-Za-z][A-Za-z0-9._-]{0,63}$")
TYPES = {
    "integer": "integer",
    "float": "decimal",
    "double": "decimal",
    "date": "date",
    "partialDate": "partial_date",
    "incompleteDate": "partial_date",
    "datetime": "datetime",
    "time": "time",
    "text": "text",
    "string": "text",
    "boolean": "boolean",
}
# What the study's ODM export writes for a multiple choice (ODM 1.3.2 has none).
MULTIPLE_CHOICE = "CarnetMultipleChoice"
# Elements of a MetaDataVersion Carnet reads; every other one is listed as not carried.
READ = {"Protocol", "StudyEventDef", "FormDef", "ItemGroupDef", "ItemDef", "CodeList"}
READ |= {"ConditionDef", "MethodDef"}


@dataclass(frozen=True)
class NotCarried:
    """Something of the ODM file the study definition does not hold: where, what, why."""

    line: int
    element: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.element}: {self.message}"


@dataclass
class StudyImport:
    """The study definition read from an ODM file, as YAML, and what it could not carry."""

    data: dict[str, Any]
    not_carried: list[NotCarried] = field(default_factory=list)
    # ODM OID -> Carnet name, per kind (what a clinical data import of the same file maps).
    names: dict[str, dict[str, str]] = field(default_factory=dict)
    items: dict[tuple[str, str, str], str] = field(default_factory=dict)
    groups: dict[tuple[str, str], str] = field(default_factory=dict)

    def yaml(self) -> str:
        writer = YAML()
        writer.default_flow_style = False
        writer.width = 100
        stream = io.StringIO()
        stream.write("# Made by `carnet study import-odm` from an ODM 1.3.2 file.\n")
        for entry in self.not_carried:
            stream.write(f"# Not carried over: {entry}\n")
        writer.dump(self.data, stream)
        return stream.getvalue()


def _texts(element: etree._Element | None) -> dict[str, str]:
    """Return the TranslatedTexts of an element by language ('' where none is given)."""
    if element is None:
        return {}
    found: dict[str, str] = {}
    for text in element.iterfind(odm("TranslatedText")):
        found.setdefault(text.get(XML_LANG, ""), (text.text or "").strip())
    return found


class _Reader:
    def __init__(self, root: etree._Element) -> None:
        self.root = root
        self.not_carried: list[NotCarried] = []
        self.names: dict[str, set[str]] = {}
        self.oids: set[str] = set()
        self.by_oid: dict[str, dict[str, str]] = {}
        self.sas_names: set[str] = set()
        # (form OID, group OID, item OID) -> item name: a group used by several forms is copied
        # into each, its items renamed, so clinical data are placed by all three OIDs.
        self.items: dict[tuple[str, str, str], str] = {}
        self.groups: dict[tuple[str, str], str] = {}

    def drop(self, element: etree._Element, message: str) -> None:
        what = etree.QName(element).localname
        oid = element.get("OID") or element.get("ItemOID") or element.get("Name") or ""
        self.not_carried.append(
            NotCarried(element.sourceline or 0, f"{what} {oid}".strip(), message)
        )

    def label(self, element: etree._Element, holder: str, fallback: str) -> dict[str, str]:
        """Return the label of ``holder``'s TranslatedTexts (English and French), listing the
        other languages."""
        texts = _texts(element.find(odm(holder)))
        label = {}
        english = texts.get("en") or texts.get("")
        if english:
            label["en"] = english
        if texts.get("fr"):
            label["fr"] = texts["fr"]
        others = sorted(lang for lang in texts if lang not in {"en", "fr", ""})
        if others:
            self.drop(
                element,
                _("%(holder)s in %(languages)s not carried (Carnet holds English and French).")
                % {"holder": holder, "languages": ", ".join(others)},
            )
        return label or {"en": fallback}

    def name(self, kind: str, element: etree._Element, *candidates: str) -> str:
        """Return a variable name (lowercase, at most 32 characters) unique among ``kind``."""
        taken = self.names.setdefault(kind, set())
        for candidate in (*candidates, element.get("OID", "")):
            base = re.sub(r"[^a-z0-9]+", "_", candidate.lower()).strip("_")
            if base:
                break
        base = base or kind
        if not base[0].isalpha():
            base = f"{kind[0]}_{base}"
        base = base[:NAME_LIMIT].rstrip("_")
        name, number = base, 1
        while name in taken:
            number += 1
            suffix = f"_{number}"
            name = base[: NAME_LIMIT - len(suffix)] + suffix
        taken.add(name)
        return name

    def oid(self, element: etree._Element, entry: dict[str, Any], kind: str) -> None:
        """Keep the ODM OID when the study format allows it and it is not taken."""
        value = element.get("OID", "")
        if OID.match(value) and value not in self.oids:
            self.oids.add(value)
            entry["oid"] = value
        elif value in self.oids:
            self.drop(
                element,
                _("used again (a group in several forms): this copy gets a new OID."),
            )
        elif value:
            self.drop(
                element,
                _("the OID is not one Carnet allows; a new one is derived."),
            )
        self.by_oid.setdefault(kind, {})[value] = entry["name"]


def _code(value: str, integer: bool) -> int | str:
    return int(value) if integer else value


def _code_lists(reader: _Reader, version: etree._Element) -> dict[str, dict[str, Any]]:
    lists: dict[str, dict[str, Any]] = {}
    for element in version.iterfind(odm("CodeList")):
        oid = element.get("OID", "")
        integer = element.get("DataType") == "integer"
        if element.get("DataType") not in {"integer", "text", "string"}:
            reader.drop(
                element,
                _("a code list of %(type)s codes is read as text codes.")
                % {"type": element.get("DataType")},
            )
        items = []
        for entry in element.iterfind(odm("CodeListItem")):
            value = entry.get("CodedValue", "")
            if integer and not re.fullmatch(r"-?\d+", value):
                integer = False
            items.append((entry, value))
        for entry in element.iterfind(odm("EnumeratedItem")):
            items.append((entry, entry.get("CodedValue", "")))
        if element.find(odm("ExternalCodeList")) is not None:
            reader.drop(
                element,
                _("an external code list (a dictionary) is not carried; its items are text."),
            )
            continue
        if not items:
            reader.drop(element, _("a code list without codes is not carried."))
            continue
        entry_data: dict[str, Any] = {
            "name": reader.name("code_list", element, element.get("Name", ""))
        }
        reader.oid(element, entry_data, "code_list")
        entry_data["type"] = "integer" if integer else "text"
        entry_data["items"] = [
            {"code": _code(value, integer), "label": reader.label(item, "Decode", value)}
            for item, value in items
        ]
        lists[oid] = entry_data
    return lists


def _expression(reader: _Reader, definition: etree._Element | None, what: str) -> str:
    """Return a Carnet expression of a ConditionDef or MethodDef, or '' (listed) if none."""
    if definition is None:
        return ""
    for formal in definition.iterfind(odm("FormalExpression")):
        if formal.get("Context") == CONTEXT and formal.text:
            return formal.text.strip()
    texts = [
        f"{formal.get('Context', '?')}: {(formal.text or '').strip()}"
        for formal in definition.iterfind(odm("FormalExpression"))
    ]
    reader.drop(
        definition,
        _("%(what)s not carried (no expression in Carnet's language): %(texts)s")
        % {"what": what, "texts": "; ".join(texts) or _("no FormalExpression")},
    )
    return ""


def _ranges(reader: _Reader, element: etree._Element, item: dict[str, Any]) -> None:
    for check in element.iterfind(odm("RangeCheck")):
        comparator = check.get("Comparator", "")
        values = [(value.text or "").strip() for value in check.iterfind(odm("CheckValue"))]
        number = _number(values[0]) if len(values) == 1 else None
        if (
            comparator in {"GE", "LE"}
            and number is not None
            and item["type"] in {"integer", "decimal"}
        ):
            item["range"] = {
                **item.get("range", {}),
                ("min" if comparator == "GE" else "max"): number,
            }
            if check.get("SoftHard") == "Soft":
                reader.drop(
                    check, _("a soft range is carried as Carnet's range, which refuses the value.")
                )
            continue
        reader.drop(
            check,
            _(
                "range check %(comparator)s %(values)s on %(item)s not carried "
                "(Carnet has a minimum and a maximum)."
            )
            % {
                "comparator": comparator,
                "values": ", ".join(values) or "(expression)",
                "item": item["name"],
            },
        )


def _number(text: str) -> int | float | None:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return None


@dataclass
class _Defs:
    items: dict[str, etree._Element]
    conditions: dict[str, etree._Element]
    methods: dict[str, etree._Element]
    units: dict[str, str]
    code_lists: dict[str, dict[str, Any]]


def _kind(
    reader: _Reader, element: etree._Element, defs: _Defs
) -> tuple[str, dict[str, Any] | None]:
    """Return the Carnet type of an ItemDef and its code list, if it has one Carnet holds."""
    data_type = element.get("DataType", "text")
    kind = TYPES.get(data_type)
    if kind is None:
        reader.drop(
            element, _("data type %(type)s has no Carnet type: read as text.") % {"type": data_type}
        )
        kind = "text"
    code_list_ref = element.find(odm("CodeListRef"))
    multiple = next(
        (
            a.get("Name")
            for a in element.iterfind(odm("Alias"))
            if a.get("Context") == MULTIPLE_CHOICE
        ),
        None,
    )
    code_list = defs.code_lists.get(
        multiple or (code_list_ref.get("CodeListOID", "") if code_list_ref is not None else "")
    )
    if code_list is not None:
        return ("multiple_choice" if multiple else "single_choice"), code_list
    if code_list_ref is not None:
        reader.drop(
            code_list_ref, _("the code list is not carried: the item is %(type)s.") % {"type": kind}
        )
    return kind, None


def _details(
    reader: _Reader, element: etree._Element, item: dict[str, Any], kind: str, defs: _Defs
) -> None:
    """Set the SAS name, length, decimals and units of an item from its ItemDef."""
    sas_name = element.get("SASFieldName", "").upper()
    if re.fullmatch(r"[A-Z_][A-Z0-9_]{0,7}", sas_name) and sas_name not in reader.sas_names:
        reader.sas_names.add(sas_name)
        item["sas_name"] = sas_name
    if kind == "text" and element.get("Length", "").isdigit():
        item["max_length"] = int(element.get("Length", "0"))
    if kind == "decimal" and element.get("SignificantDigits", "").isdigit():
        item["decimals"] = int(element.get("SignificantDigits", "0"))
    units = [
        defs.units.get(u.get("MeasurementUnitOID", ""))
        for u in element.iterfind(odm("MeasurementUnitRef"))
    ]
    if units and units[0]:
        item["units"] = units[0]
    if len(units) > 1:
        reader.drop(
            element, _("only the first of %(count)s units is carried.") % {"count": len(units)}
        )


def _item(
    reader: _Reader, ref: etree._Element, defs: _Defs, place: tuple[str, str]
) -> dict[str, Any] | None:
    element = defs.items.get(ref.get("ItemOID", ""))
    if element is None:
        reader.drop(ref, _("the ItemRef names no ItemDef."))
        return None
    name = reader.name("item", element, element.get("Name", ""), element.get("SASFieldName", ""))
    reader.items[(*place, element.get("OID", ""))] = name
    item: dict[str, Any] = {"name": name}
    reader.oid(element, item, "item")
    kind, code_list = _kind(reader, element, defs)
    method = _expression(reader, defs.methods.get(ref.get("MethodOID", "")), _("calculation"))
    item["type"] = "calculated" if method else kind
    if method:
        item["result_type"] = kind
        item["calculation"] = method
    item["label"] = reader.label(element, "Question", element.get("Name") or name)
    if code_list is not None:
        item["code_list"] = code_list["name"]
    _details(reader, element, item, kind, defs)
    _ranges(reader, element, item)
    if ref.get("Mandatory") == "Yes":
        item["required"] = True
    condition = _expression(
        reader, defs.conditions.get(ref.get("CollectionExceptionConditionOID", "")), _("condition")
    )
    negated = re.fullmatch(r"not \((.*)\)", condition, flags=re.DOTALL)
    if negated:
        item["show_if"] = negated.group(1)
    elif condition:
        item["show_if"] = f"not ({condition})"
    for tag in ("ExternalQuestion", "Role"):
        for extra in element.iterfind(odm(tag)):
            reader.drop(extra, _("not carried."))
    return item


def _units(version_parent: etree._Element) -> dict[str, str]:
    units = {}
    for unit in version_parent.iterfind(f"{odm('BasicDefinitions')}/{odm('MeasurementUnit')}"):
        texts = _texts(unit.find(odm("Symbol")))
        units[unit.get("OID", "")] = texts.get("en") or texts.get("") or unit.get("Name", "")
    return units


def _groups(
    reader: _Reader, form: etree._Element, groups: dict[str, etree._Element], defs: _Defs
) -> list[dict[str, Any]]:
    result = []
    for ref in form.iterfind(odm("ItemGroupRef")):
        element = groups.get(ref.get("ItemGroupOID", ""))
        if element is None:
            reader.drop(ref, _("the ItemGroupRef names no ItemGroupDef."))
            continue
        group: dict[str, Any] = {"name": reader.name("group", element, element.get("Name", ""))}
        reader.oid(element, group, "group")
        place = (form.get("OID", ""), element.get("OID", ""))
        reader.groups[place] = group["name"]
        texts = _texts(element.find(odm("Description")))
        if texts:
            group["label"] = reader.label(element, "Description", group["name"])
        if element.get("Repeating") == "Yes":
            group["repeating"] = True
        items = [
            item
            for ref_ in element.iterfind(odm("ItemRef"))
            if (item := _item(reader, ref_, defs, place))
        ]
        if not items:
            reader.drop(element, _("an item group without items is not carried."))
            continue
        group["items"] = items
        result.append(group)
    return result


def _forms(reader: _Reader, version: etree._Element, defs: _Defs) -> dict[str, dict[str, Any]]:
    groups = {g.get("OID", ""): g for g in version.iterfind(odm("ItemGroupDef"))}
    forms: dict[str, dict[str, Any]] = {}
    for element in version.iterfind(odm("FormDef")):
        form: dict[str, Any] = {"name": reader.name("form", element, element.get("Name", ""))}
        reader.oid(element, form, "form")
        form["label"] = reader.label(element, "Description", element.get("Name") or form["name"])
        if element.get("Repeating") == "Yes":
            form["repeating"] = True
        for tag in ("ArchiveLayout", "Alias"):
            for extra in element.iterfind(odm(tag)):
                reader.drop(extra, _("not carried."))
        form["groups"] = _groups(reader, element, groups, defs)
        if not form["groups"]:
            reader.drop(element, _("a form without items is not carried."))
            continue
        forms[element.get("OID", "")] = form
    return forms


def _events(
    reader: _Reader, version: etree._Element, forms: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    defs = {e.get("OID", ""): e for e in version.iterfind(odm("StudyEventDef"))}
    ordered = [
        ref.get("StudyEventOID", "")
        for ref in version.iterfind(f"{odm('Protocol')}/{odm('StudyEventRef')}")
    ]
    ordered += [oid for oid in defs if oid not in ordered]
    events = []
    for oid in ordered:
        element = defs.get(oid)
        if element is None:
            continue
        event: dict[str, Any] = {"name": reader.name("event", element, element.get("Name", ""))}
        reader.oid(element, event, "event")
        event["label"] = reader.label(element, "Description", element.get("Name") or event["name"])
        repeating = element.get("Repeating") == "Yes"
        if element.get("Type", "Scheduled") != "Scheduled" or repeating:
            event["unscheduled"] = True
            if repeating and element.get("Type", "Scheduled") == "Scheduled":
                reader.drop(
                    element,
                    _(
                        "a repeating scheduled event is carried as unscheduled "
                        "(ODM gives no interval)."
                    ),
                )
        else:
            event["schedule"] = {"anchor": "inclusion", "offset_days": 0}
        event["forms"] = [
            forms[ref.get("FormOID", "")]["name"]
            for ref in element.iterfind(odm("FormRef"))
            if ref.get("FormOID", "") in forms
        ]
        if not event["forms"]:
            reader.drop(element, _("an event without forms is not carried."))
            continue
        events.append(event)
    return events


def _identifier(study: etree._Element, given: str) -> str:
    if given:
        return given
    text = re.sub(r"[^A-Z0-9_-]+", "-", (study.get("OID") or "ODM").upper()).strip("-_")
    return (text if len(text) >= 2 else f"ODM-{text}")[:40]


def odm_study_read(root: etree._Element, *, identifier: str = "") -> StudyImport:
    """Return the study definition of an ODM file's first study and what it could not carry."""
    reader = _Reader(root)
    study = root.find(odm("Study"))
    if study is None:
        raise OdmRefused(_("The ODM file has no Study element: no study definition to import."))
    versions = study.findall(odm("MetaDataVersion"))
    version = versions[0] if versions else etree.Element(odm("MetaDataVersion"))
    for extra in versions[1:]:
        reader.drop(extra, _("only the first MetaDataVersion is read."))
    for extra in root.findall(odm("Study"))[1:]:
        reader.drop(extra, _("only the first Study is read."))
    for child in version:
        if etree.QName(child).localname not in READ:
            reader.drop(child, _("not carried (Carnet's study format has no such element)."))
    code_lists = _code_lists(reader, version)
    defs = _Defs(
        items={e.get("OID", ""): e for e in version.iterfind(odm("ItemDef"))},
        conditions={e.get("OID", ""): e for e in version.iterfind(odm("ConditionDef"))},
        methods={e.get("OID", ""): e for e in version.iterfind(odm("MethodDef"))},
        units=_units(study),
        code_lists=code_lists,
    )
    forms = _forms(reader, version, defs)
    events = _events(reader, version, forms)
    globals_ = study.find(odm("GlobalVariables"))
    name = globals_.findtext(odm("StudyName"), "") if globals_ is not None else ""
    description = globals_.findtext(odm("StudyDescription"), "") if globals_ is not None else ""
    study_data: dict[str, Any] = {"identifier": _identifier(study, identifier)}
    if OID.match(study.get("OID", "")):
        study_data["oid"] = study.get("OID")
    study_data["title"] = {"en": (description or name or study_data["identifier"]).strip()}
    if name.strip():
        study_data["acronym"] = name.strip()[:40]
    study_data["phase"] = "not applicable"
    study_data["sponsor"] = root.get("Originator") or root.get("SourceSystem") or "Unknown"
    used = {
        code_list
        for form in forms.values()
        for group in form["groups"]
        for item in group["items"]
        if (code_list := item.get("code_list"))
    }
    data = {
        "format": "carnet-study/1",
        "study": study_data,
        "code_lists": [entry for entry in code_lists.values() if entry["name"] in used],
        "events": events,
        "forms": list(forms.values()),
    }
    for tag in ("AdminData", "ReferenceData", "ClinicalData"):
        for extra in root.iterfind(odm(tag)):
            reader.drop(
                extra,
                _(
                    "not part of a study definition "
                    "(import clinical data with `carnet odm import-data`)."
                ),
            )
    return StudyImport(
        data=data,
        not_carried=reader.not_carried,
        names=reader.by_oid,
        items=reader.items,
        groups=reader.groups,
    )


def odm_study_file_import(path: Path, identifier: str = "") -> tuple[str, list[str]]:
    """Return the study YAML of an ODM file's metadata and what it could not carry over
    (`carnet study import-odm`); refuse a file that is not safe, valid ODM 1.3.2."""
    read = odm_study_read(odm_read(path), identifier=identifier)
    return read.yaml(), [str(entry) for entry in read.not_carried]


def odm_study_definition(
    data: bytes, *, name: str = "ODM file", identifier: str = ""
) -> StudyImport:
    """Return the study definition of an ODM file's bytes and what it could not carry over (the
    API and the import page; reads nothing into any study). The file is read as
    `carnet study import-odm` reads it: size limit, no DTD or entity, the official schema."""
    return odm_study_read(odm_parse(data, name=name), identifier=identifier)


def definition_allowed(actor: Any) -> bool:
    """Return whether someone may turn ODM files into study definitions: a system administrator,
    or whoever manages some study's definition."""
    if getattr(actor, "is_superuser", False):
        return True
    return any(may(actor, Action.MANAGE_STUDY, study=study) for study in my_studies(actor))
