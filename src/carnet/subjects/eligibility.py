"""Evaluate a study's eligibility criteria from the values a registration supplies.

Pure functions on the study definition: no database. Values are keyed by item name (``weight``)
or by the reference as the criterion writes it (``baseline.weight``). A criterion's detail is kept
in English, as stored with the subject; `detail_text` says it in the person's language.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from django.utils.translation import get_language
from django.utils.translation import gettext as _

from carnet.core.errors import ValidationError
from carnet.expressions import (
    EvaluationError,
    ExpressionError,
    Symbol,
    SymbolTable,
    Value,
    ValueType,
    check,
    evaluate,
    parse,
    references,
)
from carnet.studies.definition.model import Criterion, StudyDefinition


@dataclass(frozen=True)
class CriterionResult:
    """One criterion as evaluated: met, or failed with the reason."""

    name: str
    kind: str  # inclusion | exclusion
    label_en: str
    label_fr: str
    met: bool
    detail: str  # why it failed ("" when met)

    @property
    def outcome(self) -> str:
        return criterion_outcome(self.kind, self.met, self.detail)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "label": {"en": self.label_en, "fr": self.label_fr},
            "met": self.met,
            "detail": self.detail,
        }

    def label(self) -> str:
        """Return the criterion's label in the person's language (the other when it has one)."""
        if (get_language() or "en").startswith("fr"):
            return self.label_fr or self.label_en
        return self.label_en or self.label_fr


# The details a criterion fails with, as stored (in English) and read back by detail_text.
NOT_EVALUATED = "the criterion cannot be evaluated: "
MISSING_VALUE = "missing value: "
EXCLUSION_APPLIES = "the exclusion criterion applies"
INCLUSION_FAILS = "the inclusion criterion does not hold"


# What a criterion's result means: an inclusion criterion is met or not; an exclusion criterion
# (a condition that must not be there) is absent or present. "met" for an exclusion read as
# "the pregnancy criterion is met" for a man.
MET, NOT_MET, ABSENT, PRESENT, UNDETERMINED = "met", "not_met", "absent", "present", "undetermined"


def criterion_outcome(kind: str, met: bool, detail: str) -> str:
    """Return what a criterion's result means: met / not_met, absent / present, undetermined."""
    if not met and detail.startswith((MISSING_VALUE, NOT_EVALUATED, "unknown")):
        return UNDETERMINED  # a missing value decides nothing about the patient
    if kind == "exclusion":
        return ABSENT if met else PRESENT
    return MET if met else NOT_MET


def outcome_text(outcome: str) -> str:
    """Return a criterion's outcome in the person's language."""
    words = {
        MET: _("met"),
        NOT_MET: _("not met"),
        ABSENT: _("absent"),
        PRESENT: _("present"),
        UNDETERMINED: _("undetermined"),
    }
    return words.get(outcome, outcome)


def _item_label(definition: StudyDefinition | None, reference: str) -> str:
    """Return the label of the item a reference names, in the person's language."""
    if definition is None:
        return reference
    name = reference.rsplit(".", 1)[-1]
    language = "fr" if (get_language() or "en").startswith("fr") else "en"
    for _form, _group, item in definition.items():
        if item.name == name:
            return item.label.text(language)
    return reference


def detail_text(detail: str, definition: StudyDefinition | None = None) -> str:
    """Return a criterion's stored detail in the person's language, items named by their label
    where the study definition is given."""
    if detail.startswith(MISSING_VALUE):
        references = detail.removeprefix(MISSING_VALUE).split(", ")
        return _("missing value: %(items)s") % {
            "items": ", ".join(_item_label(definition, reference) for reference in references)
        }
    if detail.startswith(NOT_EVALUATED):
        # The expression language explains itself in English.
        return _("the criterion cannot be evaluated: %(error)s") % {
            "error": detail.removeprefix(NOT_EVALUATED)
        }
    words = {
        EXCLUSION_APPLIES: _("the exclusion criterion applies"),
        INCLUSION_FAILS: _("the inclusion criterion does not hold"),
        "unknown": _("unknown"),
    }
    return words.get(detail, detail)


def symbol_table(definition: StudyDefinition) -> SymbolTable:
    """Return the symbol table of a study definition, for its eligibility rules."""
    events_of_form: dict[str, set[str]] = {}
    for event in definition.events:
        for form_name in event.forms:
            events_of_form.setdefault(form_name, set()).add(event.name)
    symbols = []
    for form, group, item in definition.items():
        codes = definition.code_list(item.code_list).codes() if item.code_list else None
        try:
            symbols.append(
                Symbol.for_item(
                    item.name,
                    item.type,
                    codes=codes,
                    repeating=group.repeating,
                    result_type=item.result_type or None,
                    events=events_of_form.get(form.name, set()),
                    forms=[form.name],
                )
            )
        except ValueError:
            continue  # the study validator reports it
    return SymbolTable(
        symbols,
        events=[event.name for event in definition.events],
        forms=[form.name for form in definition.forms],
    )


def eligibility_items(definition: StudyDefinition) -> list[str]:
    """Return the item names the criteria read, each once, in criteria order."""
    symbols = symbol_table(definition)
    names: list[str] = []
    for criterion in definition.eligibility:
        checked = check(parse(criterion.expression), symbols, expected=ValueType.BOOLEAN)
        for reference in references(checked):
            if reference.name not in names:
                names.append(reference.name)
    return names


def _coerce(name: str, value: Any, symbol: Symbol | None) -> Value:
    """Return a JSON value in the type the language expects for the item (dates from text).

    An item of a repeating group (target lesions) is a list of rows, which rules aggregate; one
    value, as the wizard's single field gives it, is one row.
    """
    if value is None or symbol is None:
        return value
    if symbol.repeating:
        one_row = replace(symbol, repeating=False)
        rows: list[Any] = [
            _coerce(name, row, one_row) for row in (value if isinstance(value, list) else [value])
        ]
        return rows
    try:
        if symbol.type == ValueType.DATE and isinstance(value, str):
            return date.fromisoformat(value)
        if symbol.type == ValueType.DECIMAL and isinstance(value, int | str):
            return float(value)
        if symbol.type == ValueType.INTEGER and isinstance(value, str):
            return int(value)
    except ValueError as error:
        why = {
            ValueType.DATE: _("%(value)s is not a date."),
            ValueType.DECIMAL: _("%(value)s is not a decimal."),
            ValueType.INTEGER: _("%(value)s is not an integer."),
        }[symbol.type]
        raise ValidationError(f"eligibility.{name}: " + why % {"value": repr(value)}) from error
    return value


def evaluate_criteria(
    definition: StudyDefinition,
    values: Mapping[str, Any],
    *,
    clock: Callable[[], date],
) -> list[CriterionResult]:
    """Return each criterion's result; a missing value fails the criterion it is needed by."""
    symbols = symbol_table(definition)
    known = {item.name for _form, _group, item in definition.items()}
    for key in values:
        if key.rsplit(".", 1)[-1] not in known:
            raise ValidationError(
                f"eligibility.{key}: " + _("the study has no item %(item)s.") % {"item": repr(key)}
            )
    return [
        _evaluate_one(criterion, symbols, values, clock) for criterion in definition.eligibility
    ]


def _evaluate_one(
    criterion: Criterion,
    symbols: SymbolTable,
    values: Mapping[str, Any],
    clock: Callable[[], date],
) -> CriterionResult:
    def result(met: bool, detail: str = "") -> CriterionResult:
        return CriterionResult(
            criterion.name, criterion.kind, criterion.label.en, criterion.label.fr, met, detail
        )

    try:
        checked = check(parse(criterion.expression), symbols, expected=ValueType.BOOLEAN)
    except ExpressionError as error:  # a published study has valid rules; say so if not
        return result(False, f"{NOT_EVALUATED}{error}")
    row: dict[str, Value] = {}
    for reference in references(checked):
        raw = values.get(reference.key, values.get(reference.name))
        row[reference.key] = _coerce(reference.key, raw, symbols.get(reference.name))
    try:
        outcome = evaluate(checked, row, clock=clock)
    except EvaluationError as error:
        return result(False, f"{NOT_EVALUATED}{error}")
    if outcome is None:
        missing = sorted(key for key, value in row.items() if value is None)
        return result(False, MISSING_VALUE + ", ".join(missing) if missing else "unknown")
    if criterion.kind == "exclusion":
        return result(not outcome, EXCLUSION_APPLIES if outcome else "")
    return result(bool(outcome), "" if outcome else INCLUSION_FAILS)
