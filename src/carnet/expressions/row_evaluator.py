"""Evaluate a checked expression on one subject's values (the interactive save path).

Missing values are ``None``; the rules for them are three-valued (Kleene), as in SQL:
docs/expressions.md has the table. The column evaluator (polars_compiler) follows the same
rules, and a property test holds the two to the same answers.
"""

import math
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from carnet.core.clock import utc_today
from carnet.core.ctcae import combined, grade_with, grading_plan, terms_named
from carnet.expressions.checking import AGGREGATES, CheckedExpression, counted_element
from carnet.expressions.errors import EvaluationError
from carnet.expressions.symbols import ValueType
from carnet.expressions.syntax import (
    Binary,
    BooleanLiteral,
    Call,
    DateLiteral,
    DecimalLiteral,
    InList,
    IntegerLiteral,
    MissingLiteral,
    Negate,
    Node,
    Not,
    Reference,
    TextLiteral,
)

Scalar = None | bool | int | float | str | date | datetime | time
# A repeating item's values are a list (one entry per row of the group); a multiple-choice
# item's value is the collection of its ticked codes.
Value = Scalar | list[Scalar] | tuple[Scalar, ...] | frozenset[int | str] | set[int | str]
Clock = Callable[[], date]

_INT64 = 2**63


def _integer(value: int) -> int:
    # Polars integers are 64-bit; refusing beyond keeps the two evaluators in agreement.
    if not -_INT64 <= value < _INT64:
        raise EvaluationError("an integer result does not fit in 64 bits")
    return value


def _completed(difference: int, unit: int) -> int:
    """Return ``difference`` divided by ``unit``, truncated toward zero."""
    sign = (difference > 0) - (difference < 0)
    return sign * (abs(difference) // unit)


def years_between(start: date, end: date) -> int:
    """Return the completed years from ``start`` to ``end`` (age on a date), negative if before."""
    # Comparing YYYYMMDD numbers counts a year only once its anniversary day is reached.
    ymd = (end.year - start.year) * 10_000 + (end.month - start.month) * 100 + end.day - start.day
    return _completed(ymd, 10_000)


def months_between(start: date, end: date) -> int:
    """Return the completed months from ``start`` to ``end``, negative if ``end`` is before."""
    months = (end.year - start.year) * 12 + end.month - start.month
    return _completed(months * 100 + end.day - start.day, 100)


def round_half_away(value: float, digits: int) -> float:
    """Return ``value`` rounded to ``digits`` decimals, halves away from zero (as REDCap does)."""
    # The same float operations, in the same order, as the Polars compiler: equal results.
    factor = 10.0**digits
    sign = float((value > 0) - (value < 0))
    return sign * float(math.floor(abs(value) * factor + 0.5)) / factor


def _present(values: Iterable[Any]) -> list[Any]:
    return [value for value in values if value is not None]


# An expression compiled for rows: a closure per node, called with the subject's values and
# the clock. Compiled once per checked expression (a study's rules are evaluated for every form
# saved or imported): walking the tree and asking each node's type on every evaluation was most
# of the cost of a rule.
Compiled = Callable[[Mapping[str, Value], Clock], Any]


def _compiled(checked: CheckedExpression, node: Node) -> Compiled:
    """Return the closure of ``node``: its value, an integer made a decimal where the checker
    promised one (if(), coalesce(), min()), as Polars casts to the column's common type."""
    compute = _computed(checked, node)
    # Values are dynamically typed here: the checker has already proved each operation fits.
    if checked.type_of_or_none(node) == ValueType.DECIMAL:

        def as_decimal(values: Mapping[str, Value], clock: Clock) -> Any:
            value = compute(values, clock)
            if isinstance(value, int) and not isinstance(value, bool):
                return float(value)
            return value

        return as_decimal

    def as_computed(values: Mapping[str, Value], clock: Clock) -> Any:
        value = compute(values, clock)
        if isinstance(value, int) and not isinstance(value, bool):
            return _integer(value)
        return value

    return as_computed


def _computed(checked: CheckedExpression, node: Node) -> Compiled:
    if isinstance(node, IntegerLiteral | DecimalLiteral | TextLiteral | BooleanLiteral):
        return _constant(node.value)
    if isinstance(node, DateLiteral):
        return _constant(node.value)
    if isinstance(node, MissingLiteral):
        return _constant(None)
    if isinstance(node, Reference):
        return _reference(node.key)
    if isinstance(node, Negate | Not):
        return _unary(node, _compiled(checked, node.operand))
    if isinstance(node, Binary):
        return _binary(node.operator, _compiled(checked, node.left), _compiled(checked, node.right))
    if isinstance(node, InList):
        return _in_list(node, _compiled(checked, node.operand))
    if isinstance(node, Call):
        return _call(checked, node)
    raise TypeError(f"unknown node {node!r}")


def _constant(constant: Any) -> Compiled:
    return lambda values, clock: constant


def _reference(key: str) -> Compiled:
    def reference(values: Mapping[str, Value], clock: Clock) -> Any:
        try:
            value = values[key]
        except KeyError:
            raise EvaluationError(f"no value was supplied for {key}") from None
        if isinstance(value, Decimal):
            return float(value)
        return value

    return reference


def _unary(node: Negate | Not, operand: Compiled) -> Compiled:
    if isinstance(node, Negate):

        def negate(values: Mapping[str, Value], clock: Clock) -> Any:
            value = operand(values, clock)
            return None if value is None else -value

        return negate

    def not_(values: Mapping[str, Value], clock: Clock) -> Any:
        value = operand(values, clock)
        return None if value is None else not value

    return not_


def _binary(operator: str, left: Compiled, right: Compiled) -> Compiled:
    if operator == "and":

        def and_(values: Mapping[str, Value], clock: Clock) -> Any:
            first, second = left(values, clock), right(values, clock)
            if first is False or second is False:
                return False
            return None if first is None or second is None else True

        return and_
    if operator == "or":

        def or_(values: Mapping[str, Value], clock: Clock) -> Any:
            first, second = left(values, clock), right(values, clock)
            if first is True or second is True:
                return True
            return None if first is None or second is None else False

        return or_

    def applied(values: Mapping[str, Value], clock: Clock) -> Any:
        first, second = left(values, clock), right(values, clock)
        if first is None or second is None:
            return None
        try:
            return _apply(operator, first, second)
        except OverflowError:
            raise EvaluationError(f"{operator} gives a date outside the calendar") from None

    return applied


def _in_list(node: InList, operand: Compiled) -> Compiled:
    options, negated = tuple(option.value for option in node.options), node.negated

    def in_list(values: Mapping[str, Value], clock: Clock) -> Any:
        value = operand(values, clock)
        if value is None:
            return None
        return any(value == option for option in options) != negated

    return in_list


def _call(checked: CheckedExpression, node: Call) -> Compiled:
    name = node.function
    element = counted_element(node)
    if element is not None:
        return _count_where(_compiled(checked, node.arguments[0]), element)
    if name in AGGREGATES and len(node.arguments) == 1:
        rows = _compiled(checked, node.arguments[0])
        return lambda values, clock: _aggregate(name, rows(values, clock))
    if name == "contains":
        ticked, code = (_compiled(checked, argument) for argument in node.arguments)

        def contains(values: Mapping[str, Value], clock: Clock) -> Any:
            codes, wanted = ticked(values, clock), code(values, clock)
            return None if codes is None else wanted in codes

        return contains
    if name == "today":
        return lambda values, clock: clock()
    if name == "ctcae_grade":
        return _ctcae_grade(checked, node)
    return _function_call(name, [_compiled(checked, argument) for argument in node.arguments])


def _function_call(name: str, arguments: list[Compiled]) -> Compiled:
    def called(values: Mapping[str, Value], clock: Clock) -> Any:
        found = [argument(values, clock) for argument in arguments]
        if name == "if":
            return found[1] if found[0] is True else found[2]
        if name == "coalesce":
            return next((value for value in found if value is not None), None)
        if name == "is_missing":
            return found[0] is None
        if any(value is None for value in found):
            if name in ("sum", "min", "max"):
                return _aggregate(name, found) if _present(found) else None
            return None
        return _function(name, found)

    return called


def _ctcae_grade(checked: CheckedExpression, node: Call) -> Compiled:
    """Return the CTCAE grade of a value over the terms the rule names (None: unknown)."""
    term, *rest = node.arguments
    unit = rest.pop() if len(rest) == 5 else None
    assert isinstance(term, TextLiteral)
    unit_name = unit.value if isinstance(unit, TextLiteral) else ""
    arguments = [_compiled(checked, argument) for argument in rest]
    plans: list[tuple[Any, Any, float]] = []  # found at the first value, kept: they never change

    def graded(values: Mapping[str, Value], clock: Clock) -> int | None:
        value, lln, uln, *more = (argument(values, clock) for argument in arguments)
        baseline = more[0] if more else None
        if value is None:
            return None
        if not plans:
            plans[:] = [(each, *grading_plan(each, unit_name)) for each in terms_named(term.value)]
        grades = []
        for each, bounds, factor in plans:
            limits = [value, lln, uln, baseline]
            if factor != 1.0:
                limits = [None if amount is None else amount * factor for amount in limits]
            grades.append(
                grade_with(
                    each, bounds, limits[0], lln=limits[1], uln=limits[2], baseline=limits[3]
                )
            )
        return combined(grades)

    return graded


def _count_where(condition: Compiled, element: Reference) -> Compiled:
    """Return the rows of ``element`` where ``condition`` is true (missing never counts)."""
    rows_of, key = _reference(element.key), element.key

    def count_where(values: Mapping[str, Value], clock: Clock) -> int:
        found = 0
        for entry in rows_of(values, clock) or ():
            if isinstance(entry, Decimal):
                entry = float(entry)
            try:
                holds = condition({key: entry}, clock)
            except EvaluationError:
                holds = None  # as in a whole-study check: a row that cannot be evaluated is unknown
            found += holds is True
        return found

    return count_where


def _apply(operator: str, left: Any, right: Any) -> Any:
    if operator == "+":
        if isinstance(left, date):
            return left + timedelta(days=right)
        if isinstance(right, date):
            return right + timedelta(days=left)
        return left + right
    if operator == "-":
        if isinstance(left, date) and isinstance(right, date):
            return (left - right).days
        if isinstance(left, date):
            return left - timedelta(days=right)
        return left - right
    if operator == "*":
        return left * right
    if operator == "/":
        # Division by zero is missing, not an error: a rule must not crash on one bad value.
        return None if right == 0 else float(left) / float(right)
    if operator == "=":
        return left == right
    if operator == "!=":
        return left != right
    if operator == "<":
        return left < right
    if operator == "<=":
        return left <= right
    if operator == ">":
        return left > right
    if operator == ">=":
        return left >= right
    raise AssertionError(f"unknown operator {operator}")


def _aggregate(name: str, rows: Any) -> Any:
    """Return sum/count/min/max over the present values of a repeating item (None: no rows)."""
    present = _present(rows or ())
    if name == "count":
        return len(present)
    if name == "sum":
        total: Any = 0
        for value in present:
            total = total + value
        return total
    if not present:
        return None
    return min(present) if name == "min" else max(present)


def _function(name: str, arguments: list[Any]) -> Any:
    if name in ("sum", "min", "max"):
        return _aggregate(name, arguments)
    first = arguments[0]
    if name == "days_between":
        return (arguments[1] - first).days
    if name == "months_between":
        return months_between(first, arguments[1])
    if name == "years_between":
        return years_between(first, arguments[1])
    if name == "abs":
        return abs(first)
    if name == "floor":
        return math.floor(first)
    if name == "round":
        return round_half_away(float(first), arguments[1])
    raise AssertionError(f"function without an evaluator: {name}")


# The compiled closure of each checked expression, by identity: the expression is kept with
# it, so that its id is not reused while it is here. Cleared when full, as the rules' cache.
_COMPILED: dict[int, tuple[CheckedExpression, Compiled]] = {}
_COMPILED_SIZE = 4096


def evaluate(
    checked: CheckedExpression, values: Mapping[str, Value], *, clock: Clock = utc_today
) -> Value:
    """Return the value of ``checked`` for one subject; None means missing.

    ``values`` maps each reference as written (``weight``, ``baseline.weight``; see
    ``references``) to its value: None for missing (ND/NA/UNK included), a list for an item
    of a repeating group, a set of codes for a multiple-choice item. ``clock`` gives today().
    """
    found = _COMPILED.get(id(checked))
    if found is None or found[0] is not checked:
        if len(_COMPILED) >= _COMPILED_SIZE:
            _COMPILED.clear()
        found = _COMPILED[id(checked)] = (checked, _compiled(checked, checked.root))
    return found[1](values, clock)


def evaluate_part(
    checked: CheckedExpression, node: Node, values: Mapping[str, Value], clock: Clock
) -> Value:
    """Return the value of ``node``, one part of ``checked`` (the compiler folds constants so)."""
    return _compiled(checked, node)(values, clock)
