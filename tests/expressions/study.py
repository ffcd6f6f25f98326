"""A small oncology study for the expression tests, and a helper that runs both evaluators."""

import math
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import polars as pl

from carnet.expressions import (
    CheckedExpression,
    Symbol,
    SymbolTable,
    Value,
    ValueType,
    check,
    evaluate,
    evaluate_frame,
    parse,
)

TODAY = date(2024, 6, 15)


def clock() -> date:
    """Return the fixed 'today' of the tests."""
    return TODAY


SYMBOLS = SymbolTable(
    [
        Symbol.for_item("age", "integer"),
        Symbol.for_item("cycles", "integer"),
        Symbol.for_item("weight", "decimal", events=["baseline", "cycle"]),
        Symbol.for_item("height", "decimal", events=["baseline"]),
        Symbol.for_item("initials", "text"),
        Symbol.for_item("birth_date", "date"),
        Symbol.for_item("visit_date", "date"),
        Symbol.for_item("pregnant", "boolean"),
        Symbol.for_item("sex", "single_choice", codes=[1, 2]),
        Symbol.for_item("histology", "single_choice", codes=["adeno", "squamous"]),
        Symbol.for_item("symptoms", "multiple_choice", codes=[1, 2, 3]),
        Symbol.for_item("bmi", "calculated", result_type="decimal"),
        Symbol.for_item("ct_scan", "file"),
        Symbol.for_item("lesion_diameter", "integer", repeating=True),
        Symbol.for_item("lesion_volume", "decimal", repeating=True),
        Symbol.for_item("ae_onset", "date", repeating=True),
        Symbol.for_item("ae_term", "text", repeating=True),
    ],
    events=["baseline", "cycle", "fu"],
    forms=["vitals", "demography", "lesions"],
)

POLARS_TYPES: Mapping[ValueType, pl.DataType] = {
    ValueType.INTEGER: pl.Int64(),
    ValueType.DECIMAL: pl.Float64(),
    ValueType.TEXT: pl.String(),
    ValueType.DATE: pl.Date(),
    ValueType.BOOLEAN: pl.Boolean(),
    ValueType.FILE: pl.String(),
}


def column_type(key: str) -> pl.DataType:
    """Return the Polars type of the column holding the reference ``key``."""
    symbol = SYMBOLS.get(key.rsplit(".", 1)[-1])
    assert symbol is not None
    if symbol.type == ValueType.CODES:
        return pl.List(pl.Int64())
    scalar = POLARS_TYPES[symbol.type]
    return pl.List(scalar) if symbol.repeating else scalar


def frame(rows: Sequence[Mapping[str, Value]]) -> pl.DataFrame:
    """Return the frame the column evaluator reads: one row per subject, one column per key."""
    keys = list(rows[0]) if rows else []
    # A row number column keeps the frame's height when the expression reads no item.
    columns: dict[str, list[Any]] = {key: [] for key in keys}
    for row in rows:
        for key in keys:
            value = row[key]
            if isinstance(value, set | frozenset):
                value = sorted(value)
            columns[key].append(value)
    schema = {key: column_type(key) for key in keys}
    columns["__row"], schema["__row"] = list(range(len(rows))), pl.Int64()
    return pl.DataFrame(columns, schema=schema)


def checked(text: str, symbols: SymbolTable = SYMBOLS) -> CheckedExpression:
    """Return ``text`` parsed and checked against the test study."""
    return check(parse(text), symbols)


def same(first: Any, second: Any) -> bool:
    """Say whether two results agree: both missing, equal, or floats equal to rounding."""
    if first is None or second is None:
        return first is None and second is None
    if isinstance(first, float) or isinstance(second, float):
        return math.isclose(first, second, rel_tol=1e-9, abs_tol=1e-9)
    return bool(first == second) and type(first) is type(second)


def by_columns(expression: CheckedExpression, rows: Sequence[Mapping[str, Value]]) -> list[Any]:
    """Return the column evaluator's result for each row."""
    return evaluate_frame(expression, frame(rows), clock=clock).to_list()


def both(text: str, **values: Value) -> Value:
    """Return the value of ``text`` for one subject, after checking both evaluators agree."""
    expression = checked(text)
    by_row = evaluate(expression, values, clock=clock)
    (by_column,) = by_columns(expression, [values])
    assert same(by_row, by_column), f"row gives {by_row!r}, column gives {by_column!r}"
    return by_row
