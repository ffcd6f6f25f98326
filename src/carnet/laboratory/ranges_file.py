"""Reading a study's laboratory file: normal ranges (CSV or YAML) and, in YAML, the mapping of
the study's items to analytes. Every refusal names the file, the line and the column.

YAML::

    date_item: lab_date          # the sampling date (ranges are chosen by it)
    age_item: age                # the subject's age in years (age bands)
    baseline_event: screening    # the event whose value is the subject's baseline
    items:
      - {item: creatinine, analyte: creatinine, unit: µmol/L}
      - {item: bilirubin, analyte: bilirubin, unit: µmol/L, uln_item: bili_uln}
    ranges:
      - {analyte: creatinine, sex: M, unit: µmol/L, low: 62, high: 106, from: 2020-01-01}

CSV (ranges only): site, laboratory, analyte, sex, age_min, age_max, from, to, unit, low, high.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext as _
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from carnet.core.errors import ValidationError
from carnet.core.lab_units import UnitError, unit_name

CSV_COLUMNS = (
    "site",
    "laboratory",
    "analyte",
    "sex",
    "age_min",
    "age_max",
    "from",
    "to",
    "unit",
    "low",
    "high",
)
RANGE_KEYS = frozenset(CSV_COLUMNS)
ITEM_KEYS = frozenset({"item", "analyte", "unit", "unit_item", "uln_item", "lln_item"})
TOP_KEYS = frozenset({"date_item", "age_item", "baseline_event", "items", "ranges"})
SEXES = {"": "", "both": "", "M": "M", "F": "F"}
ANALYTE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


@dataclass(frozen=True)
class Place:
    """Where a value was written: 1-based line and column."""

    line: int
    column: int


class FileRefused(ValidationError):
    """A laboratory file was refused at one place."""

    def __init__(self, file_name: str, place: Place, why: str) -> None:
        self.file_name, self.place, self.why = file_name, place, why
        super().__init__(
            _("%(file)s, line %(line)s, column %(column)s: %(why)s")
            % {"file": file_name, "line": place.line, "column": place.column, "why": why}
        )


@dataclass(frozen=True)
class RangeRow:
    place: Place
    site: str
    laboratory: str
    analyte: str
    sex: str
    age_min: int | None
    age_max: int | None
    effective_from: date
    effective_to: date | None
    unit: str
    low: Decimal | None
    high: Decimal | None


@dataclass(frozen=True)
class ItemRow:
    place: Place
    item: str
    analyte: str
    unit: str
    unit_item: str
    uln_item: str
    lln_item: str


@dataclass
class LabFile:
    """What a laboratory file says. ``mapping`` is False for a CSV (ranges only)."""

    ranges: list[RangeRow] = field(default_factory=list)
    items: list[ItemRow] = field(default_factory=list)
    mapping: bool = False
    date_item: str = ""
    age_item: str = ""
    baseline_event: str = ""
    places: dict[str, Place] = field(default_factory=dict)


class _Reader:
    """Turns one record (a CSV line or a YAML mapping) into typed values, refusing in place."""

    def __init__(self, file_name: str, places: dict[str, Place], default: Place) -> None:
        self.file_name, self.places, self.default = file_name, places, default

    def refuse(self, key: str, why: str) -> FileRefused:
        return FileRefused(self.file_name, self.places.get(key, self.default), why)

    def text(self, record: dict[str, Any], key: str, *, required: bool = False) -> str:
        value = record.get(key)
        text = "" if value is None else str(value).strip()
        if required and not text:
            raise self.refuse(key, _("%(key)s is required.") % {"key": key})
        return text

    def day(self, record: dict[str, Any], key: str, *, required: bool = False) -> date | None:
        value = record.get(key)
        if isinstance(value, date):
            return value
        text = self.text(record, key, required=required)
        if not text:
            return None
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise self.refuse(
                key,
                _("%(key)s: %(value)r is not a date (YYYY-MM-DD).") % {"key": key, "value": text},
            ) from None

    def whole(self, record: dict[str, Any], key: str) -> int | None:
        text = self.text(record, key)
        if not text:
            return None
        if not text.isdigit() or int(text) > 150:
            raise self.refuse(
                key, _("%(key)s: %(value)r is not an age in years.") % {"key": key, "value": text}
            )
        return int(text)

    def number(self, record: dict[str, Any], key: str) -> Decimal | None:
        text = self.text(record, key).replace(",", ".")
        if not text:
            return None
        try:
            number = Decimal(text)
        except InvalidOperation:
            number = Decimal("NaN")
        if not number.is_finite() or number < 0:
            raise self.refuse(
                key, _("%(key)s: %(value)r is not a number.") % {"key": key, "value": text}
            )
        return number


def _range_row(reader: _Reader, record: dict[str, Any], place: Place) -> RangeRow:
    unknown = sorted(str(key) for key in record if key not in RANGE_KEYS)
    if unknown:
        raise reader.refuse(unknown[0], _("unknown key %(key)r.") % {"key": unknown[0]})
    analyte = reader.text(record, "analyte", required=True)
    if not ANALYTE_NAME.match(analyte):
        raise reader.refuse(
            "analyte",
            _("%(value)r is not an analyte name (lower case letters, digits, _).")
            % {"value": analyte},
        )
    sex = reader.text(record, "sex")
    if sex not in SEXES:
        raise reader.refuse("sex", _("sex must be M, F or both, not %(value)r.") % {"value": sex})
    unit = reader.text(record, "unit", required=True)
    try:
        unit = unit_name(unit, analyte=analyte)
    except UnitError:
        raise reader.refuse("unit", _("the unit %(unit)r is unknown.") % {"unit": unit}) from None
    age_min, age_max = reader.whole(record, "age_min"), reader.whole(record, "age_max")
    if age_min is not None and age_max is not None and age_min >= age_max:
        raise reader.refuse("age_max", _("age_max must be above age_min."))
    effective_from = reader.day(record, "from", required=True)
    assert effective_from is not None
    effective_to = reader.day(record, "to")
    if effective_to is not None and effective_to < effective_from:
        raise reader.refuse("to", _("the range ends before it starts."))
    low, high = reader.number(record, "low"), reader.number(record, "high")
    if low is None and high is None:
        raise reader.refuse("low", _("a range needs a low or a high limit."))
    if low is not None and high is not None and low >= high:
        raise reader.refuse("high", _("the high limit must be above the low limit."))
    return RangeRow(
        place=place,
        site=reader.text(record, "site"),
        laboratory=reader.text(record, "laboratory")[:100],
        analyte=analyte,
        sex=SEXES[sex],
        age_min=age_min,
        age_max=age_max,
        effective_from=effective_from,
        effective_to=effective_to,
        unit=unit,
        low=low,
        high=high,
    )


def _item_row(reader: _Reader, record: dict[str, Any], place: Place) -> ItemRow:
    unknown = sorted(str(key) for key in record if key not in ITEM_KEYS)
    if unknown:
        raise reader.refuse(unknown[0], _("unknown key %(key)r.") % {"key": unknown[0]})
    analyte = reader.text(record, "analyte", required=True)
    if not ANALYTE_NAME.match(analyte):
        raise reader.refuse(
            "analyte",
            _("%(value)r is not an analyte name (lower case letters, digits, _).")
            % {"value": analyte},
        )
    unit, unit_item = reader.text(record, "unit"), reader.text(record, "unit_item")
    if bool(unit) == bool(unit_item):
        raise reader.refuse("unit", _("give either unit or unit_item."))
    if unit:
        try:
            unit = unit_name(unit, analyte=analyte)
        except UnitError:
            raise reader.refuse(
                "unit", _("the unit %(unit)r is unknown.") % {"unit": unit}
            ) from None
    return ItemRow(
        place=place,
        item=reader.text(record, "item", required=True),
        analyte=analyte,
        unit=unit,
        unit_item=unit_item,
        uln_item=reader.text(record, "uln_item"),
        lln_item=reader.text(record, "lln_item"),
    )


def read_csv(content: str, file_name: str) -> LabFile:
    """Return the ranges of a CSV file (first line: the column names)."""
    rows = list(csv.reader(io.StringIO(content)))
    if not rows:
        raise FileRefused(file_name, Place(1, 1), _("the file is empty."))
    header = [name.strip().lower() for name in rows[0]]
    for number, name in enumerate(header, start=1):
        if name not in RANGE_KEYS:
            raise FileRefused(
                file_name, Place(1, number), _("unknown column %(column)r.") % {"column": name}
            )
    for name in ("analyte", "unit", "from"):
        if name not in header:
            raise FileRefused(
                file_name, Place(1, 1), _("the column %(column)s is missing.") % {"column": name}
            )
    lab = LabFile()
    for line, cells in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            raise FileRefused(
                file_name,
                Place(line, 1),
                _("%(found)s cells where the header has %(expected)s.")
                % {"found": len(cells), "expected": len(header)},
            )
        record = dict(zip(header, cells, strict=True))
        places = {name: Place(line, column) for column, name in enumerate(header, start=1)}
        reader = _Reader(file_name, places, Place(line, 1))
        lab.ranges.append(_range_row(reader, record, Place(line, 1)))
    return lab


def _places(node: CommentedMap, *, keys: bool = False) -> dict[str, Place]:
    """Return where each value of a mapping was written (where each key was, with ``keys``)."""
    places: dict[str, Place] = {}
    for key in node:
        try:
            line, column = node.lc.key(key) if keys else node.lc.value(key)
        except (KeyError, TypeError):
            line, column = node.lc.line, node.lc.col
        places[str(key)] = Place(line + 1, column + 1)
    return places


def _unknown_key(file_name: str, node: CommentedMap, allowed: frozenset[str]) -> None:
    """Refuse the first key of a mapping that is not one of ``allowed``, where it is written."""
    for key in node:
        if str(key) not in allowed:
            raise FileRefused(
                file_name,
                _places(node, keys=True)[str(key)],
                _("unknown key %(key)r.") % {"key": key},
            )


def _records(
    file_name: str, document: CommentedMap, key: str
) -> list[tuple[dict[str, Any], dict[str, Place], Place]]:
    sequence = document.get(key)
    if sequence is None:
        return []
    here = _places(document)[key]
    if not isinstance(sequence, CommentedSeq):
        raise FileRefused(file_name, here, _("%(key)s must be a list.") % {"key": key})
    records = []
    for index, node in enumerate(sequence):
        line, column = sequence.lc.item(index)
        place = Place(line + 1, column + 1)
        if not isinstance(node, CommentedMap):
            raise FileRefused(
                file_name, place, _("each entry of %(key)s must be a mapping.") % {"key": key}
            )
        _unknown_key(file_name, node, RANGE_KEYS if key == "ranges" else ITEM_KEYS)
        records.append((dict(node), _places(node), place))
    return records


def read_yaml(content: str, file_name: str) -> LabFile:
    """Return the mapping and the ranges of a YAML file."""
    try:
        document = YAML(typ="rt").load(content)
    except YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        place = Place(mark.line + 1, mark.column + 1) if mark else Place(1, 1)
        raise FileRefused(file_name, place, _("this is not valid YAML.")) from None
    if not isinstance(document, CommentedMap):
        raise FileRefused(file_name, Place(1, 1), _("the file must be a mapping."))
    _unknown_key(file_name, document, TOP_KEYS)
    places = _places(document)
    reader = _Reader(file_name, places, Place(1, 1))
    lab = LabFile(
        mapping=True,
        date_item=reader.text(document, "date_item"),
        age_item=reader.text(document, "age_item"),
        baseline_event=reader.text(document, "baseline_event"),
        places=places,
    )
    for record, where, place in _records(file_name, document, "items"):
        lab.items.append(_item_row(_Reader(file_name, where, place), record, place))
    for record, where, place in _records(file_name, document, "ranges"):
        lab.ranges.append(_range_row(_Reader(file_name, where, place), record, place))
    return lab


def read_lab_file(content: bytes, file_name: str) -> LabFile:
    """Return what a laboratory file says, read as CSV or YAML by its name."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FileRefused(file_name, Place(1, 1), _("the file is not UTF-8 text.")) from None
    if file_name.lower().endswith(".csv"):
        return read_csv(text, file_name)
    return read_yaml(text, file_name)
