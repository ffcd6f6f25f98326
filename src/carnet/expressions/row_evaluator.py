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


class _RowEvaluator:
    def __init__(self, checked: CheckedExpression, values: Mapping[str, Value], clock: Clock):
        self.checked = checked
        self.values = values
        self.clock = clock

    def value_of(self, node: Reference) -> Any:
        try:
            value = self.values[node.key]
        except KeyError:
            raise EvaluationError(f"no value was supplied for {node.key}") from None
        if isinstance(value, Decimal):
            return float(value)
        return value

    # Values are dynamically typed here: the checker has already proved each operation fits.
    def visit(self, node: Node) -> Any:
        value = self.compute(node)
        # An integer where the checker promised a decimal (if(), coalesce(), min()) becomes one,
        # as Polars casts to the column's common type.
        if isinstance(value, int) and not isinstance(value, bool):
            if self.checked.type_of(node) == ValueType.DECIMAL:
                return float(value)
            return _integer(value)
        return value

    def compute(self, node: Node) -> Any:
        if isinstance(node, IntegerLiteral | DecimalLiteral | TextLiteral | BooleanLiteral):
            return node.value
        if isinstance(node, DateLiteral):
            return node.value
        if isinstance(node, MissingLiteral):
            return None
        if isinstance(node, Reference):
            return self.value_of(node)
        if isinstance(node, Negate):
            operand = self.visit(node.operand)
            return None if operand is None else -operand
        if isinstance(node, Not):
            operand = self.visit(node.operand)
            return None if operand is None else not operand
        if isinstance(node, Binary):
            return self.binary(node)
        if isinstance(node, InList):
            operand = self.visit(node.operand)
            if operand is None:
                return None
            found = any(operand == option.value for option in node.options)
            return found != node.negated
        if isinstance(node, Call):
            return self.call(node)
        raise TypeError(f"unknown node {node!r}")

    def binary(self, node: Binary) -> Any:
        left, right = self.visit(node.left), self.visit(node.right)
        operator = node.operator
        if operator == "and":
            if left is False or right is False:
                return False
            return None if left is None or right is None else True
        if operator == "or":
            if left is True or right is True:
                return True
            return None if left is None or right is None else False
        if left is None or right is None:
            return None
        try:
            return _apply(operator, left, right)
        except OverflowError:
            raise EvaluationError(f"{operator} gives a date outside the calendar") from None

    def call(self, node: Call) -> Any:
        name = node.function
        element = counted_element(node)
        if element is not None:
            return self.count_where(node.arguments[0], element)
        if name in AGGREGATES and len(node.arguments) == 1:
            rows = self.visit(node.arguments[0])
            return _aggregate(name, rows)
        if name == "contains":
            ticked, code = self.visit(node.arguments[0]), self.visit(node.arguments[1])
            return None if ticked is None else code in ticked
        if name == "today":
            return self.clock()
        if name == "ctcae_grade":
            return self.ctcae_grade(node)
        arguments = [self.visit(argument) for argument in node.arguments]
        if name == "if":
            return arguments[1] if arguments[0] is True else arguments[2]
        if name == "coalesce":
            return next((value for value in arguments if value is not None), None)
        if name == "is_missing":
            return arguments[0] is None
        if any(value is None for value in arguments):
            if name in ("sum", "min", "max"):
                return _aggregate(name, arguments) if _present(arguments) else None
            return None
        return _function(name, arguments)

    def ctcae_grade(self, node: Call) -> int | None:
        """Return the CTCAE grade of a value over the terms the rule names (None: unknown)."""
        term, *rest = node.arguments
        unit = rest.pop() if len(rest) == 5 else None
        assert isinstance(term, TextLiteral)
        value, lln, uln, *more = (self.visit(argument) for argument in rest)
        baseline = more[0] if more else None
        if value is None:
            return None
        grades = []
        for each in terms_named(term.value):
            bounds, factor = grading_plan(each, unit.value if isinstance(unit, TextLiteral) else "")
            limits = [value, lln, uln, baseline]
            if factor != 1.0:
                limits = [None if amount is None else amount * factor for amount in limits]
            grades.append(
                grade_with(
                    each, bounds, limits[0], lln=limits[1], uln=limits[2], baseline=limits[3]
                )
            )
        return combined(grades)

    def count_where(self, condition: Node, element: Reference) -> int:
        """Return the rows of ``element`` where ``condition`` is true (missing never counts)."""
        rows = self.value_of(element) or ()
        found = 0
        for entry in rows:
            if isinstance(entry, Decimal):
                entry = float(entry)
            one_row = _RowEvaluator(self.checked, {element.key: entry}, self.clock)
            try:
                holds = one_row.visit(condition)
            except EvaluationError:
                holds = None  # as in a whole-study check: a row that cannot be evaluated is unknown
            found += holds is True
        return found


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


def evaluate(
    checked: CheckedExpression, values: Mapping[str, Value], *, clock: Clock = utc_today
) -> Value:
    """Return the value of ``checked`` for one subject; None means missing.

    ``values`` maps each reference as written (``weight``, ``baseline.weight``; see
    ``references``) to its value: None for missing (ND/NA/UNK included), a list for an item
    of a repeating group, a set of codes for a multiple-choice item. ``clock`` gives today().
    """
    return _RowEvaluator(checked, values, clock).visit(checked.root)


def evaluate_part(
    checked: CheckedExpression, node: Node, values: Mapping[str, Value], clock: Clock
) -> Value:
    """Return the value of ``node``, one part of ``checked`` (the compiler folds constants so)."""
    return _RowEvaluator(checked, values, clock).visit(node)
