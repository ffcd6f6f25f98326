"""Reading one entered value for one item: its type, its canonical text, its checks.

Pure Python but for Django's gettext: pages, the API and imports all come through here, so
"72,5", "72.5" and 72.5 become the same decimal, and every refusal is a sentence naming what is
wrong, in the language active for the request (a French page speaks French; the API English
unless the client asks otherwise).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext

from carnet.studies.definition.model import CodeList, Item

# No clinical text needs more; anything longer is a paste gone wrong or an attack.
MAX_TEXT_LENGTH = 4000
TRUE_WORDS = {"1", "true", "yes", "y", "oui", "o", "vrai"}
FALSE_WORDS = {"0", "false", "no", "n", "non", "faux"}
PARTIAL_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


class ValueRefused(ValueError):
    """The value cannot be stored for this item; the message says why, for the person entering."""


@dataclass(frozen=True)
class Reading:
    """An accepted value: the canonical text stored and shown, and the typed value rules use."""

    text: str
    value: Any  # int, float, Decimal-free, date, bool, str, frozenset of codes, or None
    number: Decimal | None = None
    day: date | None = None


EMPTY = Reading(text="", value=None)


def _decimal(raw: str) -> Decimal:
    cleaned = raw.strip().replace(" ", "").replace("\u202f", "")
    if cleaned.count(",") == 1 and "." not in cleaned:
        cleaned = cleaned.replace(",", ".")  # French decimal comma
    try:
        number = Decimal(cleaned)
    except InvalidOperation:
        raise ValueRefused(_("%(value)s is not a number.") % {"value": repr(raw)}) from None
    if not number.is_finite():
        raise ValueRefused(_("%(value)s is not a number.") % {"value": repr(raw)})
    return number


def _number_text(number: Decimal) -> str:
    text = format(number, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in {"-0", ""} else text


def _date(raw: str) -> date:
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        pass
    match = re.fullmatch(
        r"(\d{1,2})/(\d{1,2})/(\d{4})", raw.strip()
    )  # 22/11/2026, as written in France
    if match:
        try:
            return date(int(match[3]), int(match[2]), int(match[1]))
        except ValueError:
            pass
    raise ValueRefused(
        _("%(value)s is not a date (2026-11-22 or 22/11/2026).") % {"value": repr(raw)}
    )


def _check_range(item: Item, value: Any, shown: str) -> None:
    low: Any = item.range_min
    high: Any = item.range_max
    if isinstance(value, date):
        low = date.fromisoformat(str(low)[:10]) if low is not None else None
        high = date.fromisoformat(str(high)[:10]) if high is not None else None
    # One English sentence for numbers and dates; French says a date is before or after.
    if low is not None and value < low:
        raise ValueRefused(
            (
                pgettext("date", "%(value)s is below the minimum %(minimum)s%(units)s.")
                if isinstance(value, date)
                else _("%(value)s is below the minimum %(minimum)s%(units)s.")
            )
            % _range_words(item, shown)
        )
    if high is not None and value > high:
        raise ValueRefused(
            (
                pgettext("date", "%(value)s is above the maximum %(maximum)s%(units)s.")
                if isinstance(value, date)
                else _("%(value)s is above the maximum %(maximum)s%(units)s.")
            )
            % _range_words(item, shown)
        )


def _range_words(item: Item, shown: str) -> dict[str, Any]:
    return {
        "value": shown,
        "minimum": item.range_min,
        "maximum": item.range_max,
        "units": _units(item),
    }


def _units(item: Item) -> str:
    return f" {item.units}" if item.units else ""


def _code(raw: Any, code_list: CodeList) -> int | str:
    codes = code_list.codes()
    if code_list.type == "integer":
        try:
            code: int | str = int(str(raw).strip())
        except ValueError:
            raise ValueRefused(_not_a_code(raw, codes)) from None
    else:
        code = str(raw).strip()
    if code not in codes:
        raise ValueRefused(_not_a_code(raw, codes))
    return code


def _not_a_code(raw: Any, codes: Any) -> str:
    return _("%(value)s is not one of the codes %(codes)s.") % {
        "value": repr(raw),
        "codes": list(codes),
    }


def read_value(item: Item, raw: Any, *, code_list: CodeList | None = None) -> Reading:
    """Return the reading of ``raw`` for ``item``, or raise ValueRefused with the reason.

    None and blank text mean "no value". Calculated items are never read from input.
    """
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return EMPTY
    if isinstance(raw, str) and len(raw) > MAX_TEXT_LENGTH:
        raise ValueRefused(
            _("The text is %(length)s characters long; at most %(limit)s are kept.")
            % {"length": len(raw), "limit": MAX_TEXT_LENGTH}
        )
    if item.type == "calculated":
        raise ValueRefused(_("This item is calculated; it cannot be entered."))
    reader = READERS.get(item.type)
    if reader is None:
        raise ValueRefused(_("Items of type %(type)s cannot be entered.") % {"type": item.type})
    return reader(item, raw, code_list)


def _read_text(item: Item, raw: Any, code_list: CodeList | None) -> Reading:
    text = str(raw)
    limit = item.max_length or MAX_TEXT_LENGTH
    if len(text) > limit:
        raise ValueRefused(
            _("The text is %(length)s characters long; at most %(limit)s are allowed.")
            % {"length": len(text), "limit": limit}
        )
    if item.regex and not re.fullmatch(item.regex, text):
        raise ValueRefused(_("%(value)s does not have the expected form.") % {"value": repr(text)})
    return Reading(text=text, value=text)


def _read_number(item: Item, raw: Any, code_list: CodeList | None) -> Reading:
    kind = item.type
    if isinstance(raw, bool):
        raise ValueRefused(_("%(value)s is not a number.") % {"value": repr(raw)})
    number = Decimal(str(raw)) if isinstance(raw, int | float) else _decimal(str(raw))
    if kind == "integer" and number != number.to_integral_value():
        raise ValueRefused(_("%(value)s is not a whole number.") % {"value": repr(raw)})
    if kind == "decimal" and item.decimals is not None:
        exponent = number.normalize().as_tuple().exponent
        if isinstance(exponent, int) and -exponent > item.decimals:
            raise ValueRefused(
                ngettext(
                    "%(value)s has more than %(decimals)s decimal place.",
                    "%(value)s has more than %(decimals)s decimal places.",
                    item.decimals,
                )
                % {"value": repr(raw), "decimals": item.decimals}
            )
    text = _number_text(number)
    _check_range(item, number, text)
    value: Any = int(number) if kind == "integer" else float(number)
    return Reading(text=text, value=value, number=number)


def _read_date(item: Item, raw: Any, code_list: CodeList | None) -> Reading:
    day = raw if isinstance(raw, date) else _date(str(raw))
    _check_range(item, day, day.isoformat())
    return Reading(text=day.isoformat(), value=day, day=day)


def _read_partial_date(item: Item, raw: Any, code_list: CodeList | None) -> Reading:
    text = str(raw).strip().upper().replace("-UN", "").replace("-UK", "")
    match = PARTIAL_DATE.match(text)
    if not match:
        raise ValueRefused(
            _("%(value)s is not a date, a year-month (2023-05) or a year (2023).")
            % {"value": repr(raw)}
        )
    year, month, day_part = match.groups()
    try:
        date(int(year), int(month or 1), int(day_part or 1))
    except ValueError:
        raise ValueRefused(_("%(value)s is not a real date.") % {"value": repr(raw)}) from None
    return Reading(text=text, value=text)


def _read_datetime(item: Item, raw: Any, code_list: CodeList | None) -> Reading:
    try:
        moment = raw if isinstance(raw, datetime) else datetime.fromisoformat(str(raw).strip())
    except ValueError:
        raise ValueRefused(
            _("%(value)s is not a date and time (2026-11-22T14:05).") % {"value": repr(raw)}
        ) from None
    moment = moment.replace(second=0, microsecond=0, tzinfo=None)  # clinical local time
    return Reading(text=moment.isoformat(timespec="minutes"), value=moment, day=moment.date())


def _read_time(item: Item, raw: Any, code_list: CodeList | None) -> Reading:
    try:
        moment_of_day = raw if isinstance(raw, time) else time.fromisoformat(str(raw).strip())
    except ValueError:
        raise ValueRefused(_("%(value)s is not a time (14:05).") % {"value": repr(raw)}) from None
    return Reading(text=moment_of_day.strftime("%H:%M"), value=moment_of_day)


def _read_boolean(item: Item, raw: Any, code_list: CodeList | None) -> Reading:
    word = str(raw).strip().lower()
    if isinstance(raw, bool) or word in TRUE_WORDS | FALSE_WORDS:
        truth = raw if isinstance(raw, bool) else word in TRUE_WORDS
        return Reading(text="true" if truth else "false", value=truth)
    raise ValueRefused(_("%(value)s is not yes or no.") % {"value": repr(raw)})


def _read_single_choice(item: Item, raw: Any, code_list: CodeList | None) -> Reading:
    assert code_list is not None
    code = _code(raw, code_list)
    return Reading(text=str(code), value=code)


def _read_multiple_choice(item: Item, raw: Any, code_list: CodeList | None) -> Reading:
    assert code_list is not None
    entries = raw if isinstance(raw, list | tuple | set | frozenset) else str(raw).split(",")
    codes = frozenset(_code(entry, code_list) for entry in entries if str(entry).strip())
    if not codes:
        return EMPTY
    ordered = sorted(codes, key=lambda c: (isinstance(c, str), c))
    return Reading(text=",".join(str(c) for c in ordered), value=codes)


def _read_file(item: Item, raw: Any, code_list: CodeList | None) -> Reading:
    text = str(raw).strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", text):
        raise ValueRefused(_("A file item holds the SHA-256 of an uploaded file."))
    return Reading(text=text, value=text)


# How each type of item reads what is entered.
READERS: dict[str, Callable[[Item, Any, CodeList | None], Reading]] = {
    "text": _read_text,
    "integer": _read_number,
    "decimal": _read_number,
    "date": _read_date,
    "partial_date": _read_partial_date,
    "datetime": _read_datetime,
    "time": _read_time,
    "boolean": _read_boolean,
    "single_choice": _read_single_choice,
    "multiple_choice": _read_multiple_choice,
    "file": _read_file,
}


def value_of_text(item: Item, text: str, *, code_list: CodeList | None = None) -> Any:
    """Return the typed value of a stored canonical text (the inverse of `read_value`)."""
    if not text:
        return None
    kind = item.result_type if item.type == "calculated" else item.type
    if kind == "integer":
        return int(Decimal(text))
    if kind == "decimal":
        return float(Decimal(text))
    if kind == "date":
        return date.fromisoformat(text)
    if kind == "datetime":
        return datetime.fromisoformat(text)
    if kind == "time":
        return time.fromisoformat(text)
    if kind == "boolean":
        return text == "true"
    if kind == "single_choice":
        return int(text) if code_list is not None and code_list.type == "integer" else text
    if kind == "multiple_choice":
        parts = [part for part in text.split(",") if part]
        if code_list is not None and code_list.type == "integer":
            return frozenset(int(part) for part in parts)
        return frozenset(parts)
    return text


def text_of_value(result_type: str, value: Any) -> Reading:
    """Return the reading of a calculated value (from the row evaluator)."""
    if value is None:
        return EMPTY
    if result_type in {"integer", "decimal"}:
        number = Decimal(str(value))
        if result_type == "integer":
            number = number.to_integral_value()
        else:
            number = number.quantize(Decimal("0.000001")).normalize()
        return Reading(text=_number_text(number), value=value, number=number)
    if result_type == "date":
        return Reading(text=value.isoformat(), value=value, day=value)
    if result_type == "boolean":
        return Reading(text="true" if value else "false", value=bool(value))
    return Reading(text=str(value), value=str(value))
