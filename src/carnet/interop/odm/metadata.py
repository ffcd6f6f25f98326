"""The study definition as ODM 1.3.2 metadata: what an export writes in ``<Study>``.

One MetaDataVersion holds the union of the versions published at the cut-off (the latest's
order, then what older versions had), like the datasets' columns: an amendment adds items and
never removes one, so every value of the cut-off has its definition. Identifying items never
leave; arm-revealing ones leave only in an unblinded export (the export passes the items it may
write).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lxml import etree

from carnet.studies.definition.model import (
    CodeList,
    Event,
    Form,
    Item,
    ItemGroup,
    Label,
    StudyDefinition,
)

# Carnet's item types as ODM 1.3.2 data types (a multiple choice is its codes, comma-separated).
DATA_TYPES = {
    "text": "text",
    "integer": "integer",
    "decimal": "float",
    "date": "date",
    "partial_date": "partialDate",
    "datetime": "datetime",
    "time": "time",
    "boolean": "boolean",
    "multiple_choice": "text",
}
ODM_NS = "http://www.cdisc.org/ns/odm/v1.3"
# The context of the FormalExpressions Carnet writes: its own expression language.
CONTEXT = "Carnet"


def _el(tag: str, **attributes: str) -> etree._Element:
    """Return a new ODM element (in the ODM namespace)."""
    return etree.Element(f"{{{ODM_NS}}}{tag}", attributes, nsmap={None: ODM_NS})


def _sub(parent: etree._Element, tag: str, **attributes: str) -> etree._Element:
    return etree.SubElement(parent, f"{{{ODM_NS}}}{tag}", attributes)


def kind_of(item: Item) -> str:
    return item.result_type if item.type == "calculated" else item.type


def data_type(item: Item, code_list: CodeList | None) -> str:
    kind = kind_of(item)
    if kind == "single_choice":
        return "integer" if code_list is not None and code_list.type == "integer" else "text"
    return DATA_TYPES.get(kind, "text")


@dataclass
class Metadata:
    """The union of the study's versions at the cut-off, as ODM writes it."""

    definition: StudyDefinition  # the latest version at the cut-off
    version: int
    events: list[Event] = field(default_factory=list)
    forms: dict[str, Form] = field(default_factory=dict)
    # form name -> group name -> (group, item name -> item)
    groups: dict[str, dict[str, tuple[ItemGroup, dict[str, Item]]]] = field(default_factory=dict)
    code_lists: dict[str, CodeList] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)  # symbol -> OID

    @property
    def oid(self) -> str:
        return f"MDV.{self.version}"

    def group_of(self) -> dict[tuple[str, str], tuple[ItemGroup, Item]]:
        """Return (form, item name) -> (its group, the item)."""
        return {
            (form, name): (group, item)
            for form, groups in self.groups.items()
            for group, items in groups.values()
            for name, item in items.items()
        }


def _unit_oid(symbol: str, taken: set[str]) -> str:
    base = "MU." + (re.sub(r"[^A-Za-z0-9]+", "_", symbol).strip("_").upper() or "UNIT")
    oid, number = base, 1
    while oid in taken:
        number += 1
        oid = f"{base}_{number}"
    taken.add(oid)
    return oid


def metadata_of(definitions: list[StudyDefinition], version: int, exported: set[str]) -> Metadata:
    """Return the metadata of the versions (oldest first) keeping only the ``exported`` items."""
    meta = Metadata(definition=definitions[-1], version=version)
    events: dict[str, Event] = {}
    for definition in reversed(definitions):
        for event in definition.events:
            events.setdefault(event.name, event)
        for code_list in definition.code_lists:
            meta.code_lists.setdefault(code_list.name, code_list)
        for form in definition.forms:
            meta.forms.setdefault(form.name, form)
            groups = meta.groups.setdefault(form.name, {})
            for group in form.groups:
                entry = groups.setdefault(group.name, (group, {}))
                for item in group.items:
                    if item.name in exported:
                        entry[1].setdefault(item.name, item)
    meta.events = list(events.values())
    # Forms, groups and code lists nothing exported uses are left out (ODM needs one item a group).
    for form_name in list(meta.groups):
        meta.groups[form_name] = {
            name: entry for name, entry in meta.groups[form_name].items() if entry[1]
        }
        if not meta.groups[form_name]:
            del meta.groups[form_name]
            del meta.forms[form_name]
    used = {
        item.code_list
        for groups in meta.groups.values()
        for _group, items in groups.values()
        for item in items.values()
        if item.code_list
    }
    meta.code_lists = {name: cl for name, cl in meta.code_lists.items() if name in used}
    taken: set[str] = set()
    for groups in meta.groups.values():
        for _group, items in groups.values():
            for item in items.values():
                if item.units and item.units not in meta.units:
                    meta.units[item.units] = _unit_oid(item.units, taken)
    meta.events = [
        event for event in meta.events if any(form in meta.forms for form in event.forms)
    ]
    return meta


def _translated(parent: etree._Element, tag: str, label: Label, fallback: str = "") -> None:
    """Write ``<tag>`` with a TranslatedText per language the label has (English first)."""
    element = _sub(parent, tag)
    texts = [(lang, text) for lang, text in (("en", label.en), ("fr", label.fr)) if text]
    for lang, text in texts or [("en", fallback)]:
        translated = _sub(element, "TranslatedText")
        translated.set("{http://www.w3.org/XML/1998/namespace}lang", lang)
        translated.text = text


def _yes(flag: bool) -> str:
    return "Yes" if flag else "No"


def _event_def(event: Event, meta: Metadata) -> etree._Element:
    element = _el(
        "StudyEventDef",
        OID=event.oid,
        Name=event.name,
        Repeating=_yes(event.repeating),
        Type="Unscheduled" if event.unscheduled else "Scheduled",
    )
    _translated(element, "Description", event.label, event.name)
    for form in event.forms:
        if form in meta.forms:
            _sub(element, "FormRef", FormOID=meta.forms[form].oid, Mandatory="No")
    return element


def _form_def(form: Form, meta: Metadata) -> etree._Element:
    element = _el("FormDef", OID=form.oid, Name=form.name, Repeating=_yes(form.repeating))
    _translated(element, "Description", form.label, form.name)
    for group, _items in meta.groups[form.name].values():
        _sub(element, "ItemGroupRef", ItemGroupOID=group.oid, Mandatory="No")
    return element


def _group_def(group: ItemGroup, items: dict[str, Item]) -> etree._Element:
    element = _el("ItemGroupDef", OID=group.oid, Name=group.name, Repeating=_yes(group.repeating))
    if group.label.en or group.label.fr:
        _translated(element, "Description", group.label)
    for order, item in enumerate(items.values(), start=1):
        ref = _sub(
            element,
            "ItemRef",
            ItemOID=item.oid,
            OrderNumber=str(order),
            Mandatory=_yes(item.required),
        )
        if item.calculation:
            ref.set("MethodOID", f"MT.{item.oid}")
        if item.show_if:
            ref.set("CollectionExceptionConditionOID", f"CD.{item.oid}")
    return element


def _range_checks(element: etree._Element, item: Item) -> None:
    for comparator, bound in (("GE", item.range_min), ("LE", item.range_max)):
        if bound is None:
            continue
        check = _sub(element, "RangeCheck", Comparator=comparator, SoftHard="Hard")
        value = _sub(check, "CheckValue")
        value.text = str(bound)


def _item_def(item: Item, meta: Metadata) -> etree._Element:
    code_list = meta.code_lists.get(item.code_list) if item.code_list else None
    element = _el("ItemDef", OID=item.oid, Name=item.name, DataType=data_type(item, code_list))
    if item.max_length:
        element.set("Length", str(item.max_length))
    if item.decimals is not None:
        element.set("SignificantDigits", str(item.decimals))
    if item.sas_name:
        element.set("SASFieldName", item.sas_name)
    if item.guideline.en or item.guideline.fr:
        _translated(element, "Description", item.guideline)
    _translated(element, "Question", item.label, item.name)
    if item.units:
        _sub(element, "MeasurementUnitRef", MeasurementUnitOID=meta.units[item.units])
    _range_checks(element, item)
    if code_list is not None and kind_of(item) == "single_choice":
        _sub(element, "CodeListRef", CodeListOID=code_list.oid)
    if kind_of(item) == "multiple_choice" and code_list is not None:
        # ODM 1.3.2 has no multiple choice: the codes are named by an alias the import reads.
        _sub(element, "Alias", Context="CarnetMultipleChoice", Name=code_list.oid)
    return element


def _code_list(code_list: CodeList) -> etree._Element:
    element = _el("CodeList", OID=code_list.oid, Name=code_list.name, DataType=code_list.type)
    for order, code in enumerate(code_list.items, start=1):
        entry = _sub(element, "CodeListItem", CodedValue=str(code.code), OrderNumber=str(order))
        _translated(entry, "Decode", code.label, str(code.code))
    return element


def _expression(tag: str, oid: str, name: str, text: str, extra: dict[str, str]) -> etree._Element:
    element = _el(tag, OID=oid, Name=name, **extra)
    description = _sub(element, "Description")
    translated = _sub(description, "TranslatedText")
    translated.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
    translated.text = text
    formal = _sub(element, "FormalExpression", Context=CONTEXT)
    formal.text = text
    return element


def metadata_elements(meta: Metadata) -> list[etree._Element]:
    """Return the MetaDataVersion's children, in the schema's order."""
    protocol = _el("Protocol")
    for event in meta.events:
        _sub(protocol, "StudyEventRef", StudyEventOID=event.oid, Mandatory="No")
    elements = [protocol] if meta.events else []
    elements += [_event_def(event, meta) for event in meta.events]
    elements += [_form_def(meta.forms[name], meta) for name in meta.groups]
    items: list[Item] = []
    for groups in meta.groups.values():
        for group, group_items in groups.values():
            elements.append(_group_def(group, group_items))
            items += group_items.values()
    elements += [_item_def(item, meta) for item in items]
    elements += [_code_list(code_list) for code_list in meta.code_lists.values()]
    # Branching: ODM names when an item is *not* collected, so the condition is the negation.
    elements += [
        _expression("ConditionDef", f"CD.{i.oid}", i.name, f"not ({i.show_if})", {})
        for i in items
        if i.show_if
    ]
    elements += [
        _expression("MethodDef", f"MT.{i.oid}", i.name, i.calculation, {"Type": "Computation"})
        for i in items
        if i.calculation
    ]
    return elements


def basic_definitions(meta: Metadata) -> etree._Element:
    element = _el("BasicDefinitions")
    for symbol, oid in meta.units.items():
        unit = _sub(element, "MeasurementUnit", OID=oid, Name=symbol)
        _translated(unit, "Symbol", Label(en=symbol, fr=symbol))
    return element


def global_variables(definition: StudyDefinition) -> etree._Element:
    element = _el("GlobalVariables")
    _sub(element, "StudyName").text = definition.identifier
    _sub(element, "StudyDescription").text = definition.title.text("en")
    _sub(element, "ProtocolName").text = definition.acronym or definition.identifier
    return element
