"""Canonical JSON: one byte string per value, so that hashes are reproducible.

Keys are sorted, no insignificant whitespace, UTF-8 without escaping, and only JSON's own types
are accepted. Dates, decimals and other rich values must be turned into text by the caller,
because two libraries never agree on how to print them.
"""

import json
import math
from typing import Any

JsonValue = None | bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"]


def _check(value: Any, path: str) -> None:
    if value is None or isinstance(value, bool | int | str):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TypeError(f"{path}: {value!r} has no JSON form")
        return
    if isinstance(value, list | tuple):
        for index, element in enumerate(value):
            _check(element, f"{path}[{index}]")
        return
    if isinstance(value, dict):
        for key, element in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{path}: key {key!r} is not text")
            _check(element, f"{path}.{key}")
        return
    raise TypeError(f"{path}: {type(value).__name__} must be converted to text first")


def json_check(value: Any) -> None:
    """Raise TypeError unless ``value`` is made of JSON's own types only (and finite numbers)."""
    _check(value, "$")


def canonical_json(value: Any, *, checked: bool = False) -> str:
    """Return the canonical JSON text of ``value``; ``checked`` says the caller has already
    passed its parts through `json_check` (the audit trail's hot path checks them once)."""
    if value is None:  # an audit event's missing old value, as often as not
        return "null"
    if not checked:
        _check(value, "$")
    # allow_nan=False: a value the caller says is checked still never hashes as "NaN".
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def canonical_bytes(value: Any, *, checked: bool = False) -> bytes:
    """Return the canonical JSON of ``value`` as UTF-8 bytes, ready to hash."""
    return canonical_json(value, checked=checked).encode("utf-8")
