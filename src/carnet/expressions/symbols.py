"""What the caller tells the type checker about a study's items: the symbol table."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum


class ValueType(StrEnum):
    """The type of a value in the language.

    Decimals are Python floats (Polars Float64): fast, and exact for the values clinicians
    enter; integers are Python ints (Polars Int64); dates are ``datetime.date``.
    """

    TEXT = "text"
    INTEGER = "integer"
    DECIMAL = "decimal"
    DATE = "date"
    DATETIME = "datetime"
    TIME = "time"
    BOOLEAN = "boolean"
    # The set of ticked codes of a multiple-choice item; only contains() and is_missing() read it.
    CODES = "codes"
    FILE = "file"
    # The type of the `missing` literal: it fits wherever any other type does.
    MISSING = "missing"


NUMBERS = frozenset({ValueType.INTEGER, ValueType.DECIMAL})

# Study item types (the study definition's words) and the value type each reads as.
_ITEM_TYPES: Mapping[str, ValueType] = {
    "text": ValueType.TEXT,
    "integer": ValueType.INTEGER,
    "decimal": ValueType.DECIMAL,
    "date": ValueType.DATE,
    # A partial date is text such as "2023-05" or "2023-UN-UN": it compares as text.
    "partial_date": ValueType.TEXT,
    "datetime": ValueType.DATETIME,
    "time": ValueType.TIME,
    "boolean": ValueType.BOOLEAN,
    "multiple_choice": ValueType.CODES,
    "file": ValueType.FILE,
}

Code = int | str


@dataclass(frozen=True)
class Symbol:
    """One item as the language sees it.

    ``codes`` is the item's code list (single or multiple choice); ``repeating`` says the item
    belongs to a repeating group (lesions, adverse events), so it must be aggregated; ``events``
    and ``forms``, when given, are where the item is collected, to check qualified references.
    """

    name: str
    type: ValueType
    codes: tuple[Code, ...] | None = None
    repeating: bool = False
    events: frozenset[str] | None = None
    forms: frozenset[str] | None = None

    @property
    def code_type(self) -> ValueType:
        """Return the type of this item's codes: integer when every code is an integer."""
        if self.codes and all(isinstance(code, int) for code in self.codes):
            return ValueType.INTEGER
        return ValueType.TEXT

    @classmethod
    def for_item(
        cls,
        name: str,
        item_type: str,
        *,
        codes: Iterable[Code] | None = None,
        repeating: bool = False,
        result_type: str | None = None,
        events: Iterable[str] | None = None,
        forms: Iterable[str] | None = None,
    ) -> "Symbol":
        """Return the symbol of a study item given its item type (``single_choice``, ``date``…).

        A ``calculated`` item reads as its declared ``result_type``; a ``single_choice`` item
        reads as its codes (integer or text).
        """
        code_list = tuple(codes) if codes is not None else None
        if item_type == "calculated":
            if result_type is None or result_type == "calculated":
                raise ValueError(f"calculated item {name!r} must declare its result type")
            item_type = result_type
        if item_type == "single_choice":
            integers = code_list is not None and all(isinstance(code, int) for code in code_list)
            value_type = ValueType.INTEGER if integers else ValueType.TEXT
        elif item_type in _ITEM_TYPES:
            value_type = _ITEM_TYPES[item_type]
        else:
            raise ValueError(f"item {name!r} has unknown type {item_type!r}")
        return cls(
            name=name,
            type=value_type,
            codes=code_list,
            repeating=repeating,
            events=frozenset(events) if events is not None else None,
            forms=frozenset(forms) if forms is not None else None,
        )


class SymbolTable:
    """The items an expression may name, looked up by variable name.

    ``events`` and ``forms``, when given, are every event and form of the study, so that a
    reference qualified by an unknown one is refused.
    """

    def __init__(
        self,
        symbols: Iterable[Symbol],
        *,
        events: Iterable[str] | None = None,
        forms: Iterable[str] | None = None,
    ) -> None:
        self._symbols = {symbol.name: symbol for symbol in symbols}
        self.events = frozenset(events) if events is not None else None
        self.forms = frozenset(forms) if forms is not None else None

    def get(self, name: str) -> Symbol | None:
        """Return the symbol called ``name``, or None when the study has no such item."""
        return self._symbols.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._symbols

    def __len__(self) -> int:
        return len(self._symbols)

    def names(self) -> list[str]:
        """Return every item name, sorted."""
        return sorted(self._symbols)
