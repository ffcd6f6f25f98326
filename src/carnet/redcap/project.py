"""A study definition as REDCap sees a project: instruments, fields, events and their mapping.

Pure Python on the definition (no database): the API's metadata, instruments, events and
records, and the data dictionary export, all read the same view, so a field is named and
placed the same way everywhere.

How Carnet's structure maps onto REDCap's:

- one REDCap arm (``arm_num`` 1) holds every event: Carnet has one schedule per study; its
  treatment arms (randomisation) are never REDCap arms, so nothing here reveals an allocation;
- an event is ``<event>_arm_1``; a scheduled repeating event, or an unscheduled one, is a
  repeating event (its occurrences are REDCap's repeat instances);
- a form is an instrument holding its items outside repeating groups; each repeating item
  group (lesions, adverse events…) is a repeating instrument of its own whose instances are
  the group's rows; a repeating form is a repeating instrument whose instances are its repeats;
- identifying items never appear, and arm-revealing items only to an unblinded reader.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from carnet.studies.definition.model import Form, Item, ItemGroup, StudyDefinition

RECORD_ID = "record_id"
ARM_NUMBER = 1
ARM_SUFFIX = f"_arm_{ARM_NUMBER}"

# How each Carnet item type is written in REDCap: field type and text validation.
FIELD_TYPES: dict[str, tuple[str, str]] = {
    "text": ("text", ""),
    "integer": ("text", "integer"),
    "decimal": ("text", "number"),
    "date": ("text", "date_ymd"),
    "partial_date": ("text", ""),
    "datetime": ("text", "datetime_ymd"),
    "time": ("text", "time"),
    "boolean": ("yesno", ""),
    "single_choice": ("radio", ""),
    "multiple_choice": ("checkbox", ""),
    "file": ("file", ""),
    "calculated": ("calc", ""),
}


@dataclass(frozen=True)
class Instrument:
    """A REDCap instrument: a Carnet form's items outside repeating groups, or one repeating
    group of a form."""

    name: str
    label: str
    form: Form
    group: ItemGroup | None = None

    @property
    def repeating(self) -> bool:
        return self.group is not None or self.form.repeating


@dataclass(frozen=True)
class Field:
    """One REDCap field: a Carnet item (or the record identifier) on its instrument."""

    name: str
    instrument: Instrument
    item: Item | None
    section_header: str = ""

    @property
    def checkbox(self) -> bool:
        return self.item is not None and self.item.type == "multiple_choice"


@dataclass(frozen=True)
class RedcapEvent:
    unique_name: str
    name: str
    label: str
    repeating: bool
    day_offset: int
    offset_min: int
    offset_max: int
    instruments: tuple[str, ...]


def event_unique_name(event: str) -> str:
    """Return REDCap's unique name of a Carnet event (``baseline`` -> ``baseline_arm_1``)."""
    return event + ARM_SUFFIX


def event_of_unique_name(unique_name: str) -> str:
    """Return the Carnet event of a REDCap unique event name (either form is accepted)."""
    return unique_name.removesuffix(ARM_SUFFIX)


def checkbox_column(field: str, code: object) -> str:
    """Return REDCap's export column of one checkbox choice (``sites___2``; ``-1`` -> ``_1``)."""
    return f"{field}___{str(code).replace('-', '_').lower()}"


def number_text(value: int | float | str | None) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return format(Decimal(str(value)).normalize(), "f")
    return str(value)


class RedcapProject:
    """The REDCap view of one study definition, as one reader may see it."""

    def __init__(
        self, definition: StudyDefinition, *, unblinded: bool, identifying: bool = False
    ) -> None:
        self.definition = definition
        self.unblinded = unblinded
        # Only a data dictionary (the definition, no value) lists identifying items.
        self.identifying = identifying
        self.code_lists = {code_list.name: code_list for code_list in definition.code_lists}
        self.instruments: list[Instrument] = []
        self.fields: list[Field] = []
        self._build()
        self.field_by_name = {field.name: field for field in self.fields}
        self.instrument_by_name = {instrument.name: instrument for instrument in self.instruments}
        # Carnet form -> its instruments, and (form, group) -> the instrument holding the group.
        self.instrument_of_group: dict[tuple[str, str], Instrument] = {}
        for field in self.fields:
            if field.item is None:
                continue
            for group in field.instrument.form.groups:
                if field.item in group.items:
                    self.instrument_of_group[(field.instrument.form.name, group.name)] = (
                        field.instrument
                    )

    @property
    def has_repeating(self) -> bool:
        """Return whether the project has repeating instruments or events (REDCap adds the
        ``redcap_repeat_*`` columns to records only then)."""
        return any(i.repeating for i in self.instruments) or any(e.repeating for e in self.events())

    @property
    def record_id(self) -> str:
        return RECORD_ID

    def shown(self, item: Item) -> bool:
        """Return whether the reader may see an item at all (identifying ones never leave)."""
        if item.identifying:
            return self.identifying
        return self.unblinded or not item.arm_revealing

    def _build(self) -> None:
        form_names = {form.name for form in self.definition.forms}
        for form in self.definition.forms:
            main = Instrument(form.name, form.label.en or form.name, form)
            main_fields: list[Field] = []
            if not self.fields:
                main_fields.append(Field(RECORD_ID, main, None))
            group_instruments: list[tuple[Instrument, list[Field]]] = []
            for group in form.groups:
                if group.repeating:
                    name = (
                        group.name if group.name not in form_names else f"{form.name}_{group.name}"
                    )
                    label = group.label.en or group.name
                    instrument = Instrument(name, label, form, group)
                    fields = self._group_fields(instrument, group, header="")
                    if fields:
                        group_instruments.append((instrument, fields))
                else:
                    main_fields.extend(
                        self._group_fields(
                            main, group, header=group.label.en if group.label else ""
                        )
                    )
            if main_fields:
                self.instruments.append(main)
                self.fields.extend(main_fields)
            for instrument, fields in group_instruments:
                self.instruments.append(instrument)
                self.fields.extend(fields)

    def _group_fields(
        self, instrument: Instrument, group: ItemGroup, *, header: str
    ) -> list[Field]:
        fields: list[Field] = []
        for item in group.items:
            if not self.shown(item):
                continue
            fields.append(Field(item.name, instrument, item, header if not fields else ""))
        return fields

    # --- what REDCap's contents answer --------------------------------------------------------

    def events(self) -> list[RedcapEvent]:
        events = []
        for event in self.definition.events:
            schedule = event.schedule
            instruments = tuple(
                instrument.name
                for form in event.forms
                for instrument in self.instruments
                if instrument.form.name == form
            )
            events.append(
                RedcapEvent(
                    unique_name=event_unique_name(event.name),
                    name=event.name,
                    label=event.label.en or event.name,
                    repeating=event.unscheduled or bool(schedule and schedule.repeat),
                    day_offset=schedule.offset_days if schedule else 0,
                    offset_min=schedule.window.before if schedule else 0,
                    offset_max=schedule.window.after if schedule else 0,
                    instruments=instruments,
                )
            )
        return events

    def choices(self, item: Item) -> list[tuple[str, str]]:
        """Return an item's choices as (code, label), REDCap's ``1, Yes | 0, No``."""
        if item.type == "boolean":
            return [("1", "Yes"), ("0", "No")]
        if not item.code_list or item.code_list not in self.code_lists:
            return []
        return [
            (str(code.code), code.label.en or str(code.code))
            for code in self.code_lists[item.code_list].items
        ]

    def export_columns(self, field: Field) -> list[tuple[str, str]]:
        """Return the export columns of a field: (column, choice code or '')."""
        if field.item is not None and field.checkbox:
            return [
                (checkbox_column(field.name, code), code) for code, _ in self.choices(field.item)
            ]
        return [(field.name, "")]

    def metadata_row(self, field: Field) -> dict[str, str]:
        """Return one row of REDCap's metadata (the data dictionary) for a field."""
        item = field.item
        row = dict.fromkeys(METADATA_COLUMNS, "")
        row.update(field_name=field.name, form_name=field.instrument.name)
        if item is None:
            row.update(field_type="text", field_label="Record ID")
            return row
        field_type, validation = FIELD_TYPES.get(item.type, ("text", ""))
        if item.type == "decimal" and item.decimals:
            validation = f"number_{item.decimals}dp" if item.decimals <= 4 else "number"
        row.update(
            section_header=field.section_header,
            field_type=field_type,
            field_label=item.label.en or item.name,
            field_note=item.units,
            text_validation_type_or_show_slider_number=validation,
            text_validation_min=number_text(item.range_min),
            text_validation_max=number_text(item.range_max),
            required_field="y" if item.required else "",
            identifier="y" if item.identifying else "",
            branching_logic=redcap_logic(item.show_if),
            field_annotation=" ".join(
                f"@CARNET-{flag.upper()}"
                for flag in item.flags
                if flag in {"arm_revealing", "sdv_critical"}
            ),
        )
        if field_type in {"radio", "checkbox"}:
            row["select_choices_or_calculations"] = " | ".join(
                f"{code}, {label}" for code, label in self.choices(item)
            )
        elif field_type == "calc":
            row["select_choices_or_calculations"] = redcap_logic(item.calculation)
        return row


METADATA_COLUMNS = (
    "field_name",
    "form_name",
    "section_header",
    "field_type",
    "field_label",
    "select_choices_or_calculations",
    "field_note",
    "text_validation_type_or_show_slider_number",
    "text_validation_min",
    "text_validation_max",
    "identifier",
    "branching_logic",
    "required_field",
    "custom_alignment",
    "question_number",
    "matrix_group_name",
    "matrix_ranking",
    "field_annotation",
)


def redcap_logic(expression: str) -> str:
    """Return a Carnet expression written as REDCap logic, as far as the syntax allows.

    Item names go in brackets, ``event.item`` becomes ``[event_arm_1][item]`` and ``!=``
    becomes ``<>``; functions keep their Carnet names (REDCap knows sum, round, abs…).
    """
    if not expression:
        return ""
    from carnet.redcap.logic import carnet_to_redcap

    return carnet_to_redcap(expression)
