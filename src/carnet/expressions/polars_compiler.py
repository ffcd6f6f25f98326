"""Compile a checked expression to a Polars expression, for whole-study checks and filters.

The frame has one column per reference as written (``weight``, ``baseline.weight``), one row
per subject (or per subject and event). An item of a repeating group is a List column (one
entry per row of the group); a multiple-choice item is a List column of its ticked codes.
Missing values are nulls.

Run compiled expressions on a LazyFrame (``evaluate_frame`` does): Polars 2.1's eager
``DataFrame.with_columns`` returns one row instead of the frame's height for some
``when/then`` results compared with a literal (``1.5 <= when(all false).then(x)``), while
the lazy engine, which whole-study checks use anyway, is right.
"""

from typing import Any

import polars as pl

from carnet.core.clock import utc_today
from carnet.core.ctcae import grading_plan, terms_named
from carnet.core.ctcae_frames import Columns, grade_expression
from carnet.expressions.checking import AGGREGATES, CheckedExpression, counted_element
from carnet.expressions.row_evaluator import Clock, evaluate_part
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
    children,
    walk,
)

T = ValueType
DTYPES: dict[ValueType, pl.DataType] = {
    T.INTEGER: pl.Int64(),
    T.DECIMAL: pl.Float64(),
    T.TEXT: pl.String(),
    T.DATE: pl.Date(),
    T.DATETIME: pl.Datetime(),
    T.TIME: pl.Time(),
    T.BOOLEAN: pl.Boolean(),
    T.FILE: pl.String(),
}


def _missing(value_type: ValueType) -> pl.Expr:
    return pl.lit(None, dtype=DTYPES.get(value_type, pl.Null()))


def _constant_parts(root: Node) -> set[int]:
    """Return the ids of the nodes under ``root`` that read no item."""
    constant: set[int] = set()
    for node in reversed(walk(root)):
        # walk() is pre-order, so in reverse every child comes before its parent.
        if not isinstance(node, Reference) and all(
            id(child) in constant for child in children(node)
        ):
            constant.add(id(node))
    return constant


def _completed(difference: pl.Expr, unit: int) -> pl.Expr:
    """Return ``difference / unit`` truncated toward zero, like the row evaluator."""
    # A float quotient of integers this small is never rounded up to the next whole number,
    # and the cast truncates toward zero: cheaper than sign() * (abs() // unit).
    return (difference / unit).cast(pl.Int64)


def _ymd(day: pl.Expr, month_weight: int, year_weight: int) -> pl.Expr:
    # Int32 holds year * 10,000 for every year Polars dates reach that a study uses (< 200,000).
    return (
        day.dt.year().cast(pl.Int32) * year_weight
        + day.dt.month().cast(pl.Int32) * month_weight
        + day.dt.day().cast(pl.Int32)
    )


class _Compiler:
    def __init__(
        self, checked: CheckedExpression, clock: Clock, element: str | None = None
    ) -> None:
        self.checked = checked
        self.clock = clock
        self.constants = _constant_parts(checked.root)
        # Inside count(condition): the key of the repeating item read entry by entry.
        self.element = element

    def type_of(self, node: Node) -> ValueType:
        return self.checked.type_of(node)

    def visit(self, node: Node) -> pl.Expr:
        # Anything typed "missing" (missing + 1, coalesce(missing, missing)) is always null.
        if self.type_of(node) == T.MISSING:
            return pl.lit(None)
        if id(node) in self.constants and not isinstance(node, Reference):
            # A part that reads no item is computed once, by the row evaluator: the same answer
            # by construction, and a true scalar that Polars broadcasts over the frame.
            value = evaluate_part(self.checked, node, {}, self.clock)
            return pl.lit(value, dtype=DTYPES.get(self.type_of(node), pl.Null()))
        return self.build(node)

    def condition(self, node: Node) -> pl.Expr:
        """Return ``node`` as a Boolean column, even where it is the bare ``missing``."""
        if self.type_of(node) == T.MISSING:
            return pl.lit(None, dtype=pl.Boolean())
        return self.build(node)

    def build(self, node: Node) -> pl.Expr:
        if isinstance(node, IntegerLiteral | DecimalLiteral | TextLiteral | BooleanLiteral):
            return pl.lit(node.value, dtype=DTYPES[self.type_of(node)])
        if isinstance(node, DateLiteral):
            return pl.lit(node.value, dtype=pl.Date())
        if isinstance(node, MissingLiteral):
            return pl.lit(None)
        if isinstance(node, Reference):
            return pl.element() if node.key == self.element else pl.col(node.key)
        if isinstance(node, Negate):
            return -self.visit(node.operand)
        if isinstance(node, Not):
            return ~self.condition(node.operand)
        if isinstance(node, Binary):
            return self.binary(node)
        if isinstance(node, InList):
            return self.in_list(node)
        if isinstance(node, Call):
            return self.call(node)
        raise TypeError(f"unknown node {node!r}")

    def binary(self, node: Binary) -> pl.Expr:
        operator = node.operator
        left_type, right_type = self.type_of(node.left), self.type_of(node.right)
        if operator in ("and", "or"):
            left, right = self.condition(node.left), self.condition(node.right)
            # Polars & and | follow Kleene's three-valued logic, as the row evaluator does.
            return left & right if operator == "and" else left | right
        if T.MISSING in (left_type, right_type):
            return _missing(self.type_of(node))
        left, right = self.visit(node.left), self.visit(node.right)
        if operator in ("+", "-") and T.DATE in (left_type, right_type):
            return self.date_arithmetic(operator, left, left_type, right, right_type)
        if operator == "/":
            # Division by zero is missing (when() without otherwise() gives null).
            return pl.when(right != 0).then(left.cast(pl.Float64) / right.cast(pl.Float64))
        operations = {
            "+": pl.Expr.add,
            "-": pl.Expr.sub,
            "*": pl.Expr.mul,
            "=": pl.Expr.eq,
            "!=": pl.Expr.ne,
            "<": pl.Expr.lt,
            "<=": pl.Expr.le,
            ">": pl.Expr.gt,
            ">=": pl.Expr.ge,
        }
        return operations[operator](left, right)

    @staticmethod
    def date_arithmetic(
        operator: str, left: pl.Expr, left_type: ValueType, right: pl.Expr, right_type: ValueType
    ) -> pl.Expr:
        if left_type == T.DATE and right_type == T.DATE:
            return (left - right).dt.total_days().cast(pl.Int64)
        if left_type != T.DATE:
            left, right = right, left
        days = pl.duration(days=right)
        return left + days if operator == "+" else left - days

    def in_list(self, node: InList) -> pl.Expr:
        operand_type = self.type_of(node.operand)
        if operand_type == T.MISSING:
            return pl.lit(None, dtype=pl.Boolean())
        option_types = {self.type_of(option) for option in node.options}
        values: list[Any] = [option.value for option in node.options]
        operand = self.visit(node.operand)
        value_type = T.DECIMAL if T.DECIMAL in option_types | {operand_type} else operand_type
        if value_type == T.DECIMAL:
            operand = operand.cast(pl.Float64)
            values = [float(value) for value in values]
        found = operand.is_in(pl.Series(values, dtype=DTYPES[value_type]).implode())
        return ~found if node.negated else found

    def call(self, node: Call) -> pl.Expr:
        name, arguments = node.function, node.arguments
        element = counted_element(node)
        if element is not None:
            return self.count_where(arguments[0], element)
        if name in AGGREGATES and len(arguments) == 1:
            return self.aggregate(name, arguments[0])
        if name == "today":
            return pl.lit(self.clock(), dtype=pl.Date())
        if name == "ctcae_grade":
            return self.ctcae_grade(node)
        if name == "contains":
            code = arguments[1]
            assert isinstance(code, IntegerLiteral | TextLiteral)
            return self.visit(arguments[0]).list.contains(pl.lit(code.value))
        if name == "if":
            condition = self.condition(arguments[0])
            then, otherwise = self.visit(arguments[1]), self.visit(arguments[2])
            return pl.when(condition).then(then).otherwise(otherwise)
        if name == "coalesce":
            return pl.coalesce([self.visit(argument) for argument in arguments])
        if name == "is_missing":
            return self.visit(arguments[0]).is_null()
        if any(self.type_of(argument) == T.MISSING for argument in arguments) and name not in (
            "sum",
            "min",
            "max",
        ):
            return _missing(self.type_of(node))
        values = [self.visit(argument) for argument in arguments]
        return self.function(name, node, values)

    def function(self, name: str, node: Call, values: list[pl.Expr]) -> pl.Expr:
        if name == "sum":
            # Like the row evaluator: missing values are skipped, and all missing is missing.
            present = pl.any_horizontal([value.is_not_null() for value in values])
            return pl.when(present).then(pl.sum_horizontal(values))
        if name == "min":
            return pl.min_horizontal(values)
        if name == "max":
            return pl.max_horizontal(values)
        if name == "days_between":
            return (values[1] - values[0]).dt.total_days().cast(pl.Int64)
        if name == "years_between":
            start, end = values
            return _completed(_ymd(end, 100, 10_000) - _ymd(start, 100, 10_000), 10_000)
        if name == "months_between":
            start, end = values
            return _completed(_ymd(end, 100, 1_200) - _ymd(start, 100, 1_200), 100)
        if name == "abs":
            return values[0].abs()
        if name == "floor":
            if self.type_of(node.arguments[0]) == T.INTEGER:
                return values[0]
            return values[0].floor().cast(pl.Int64)
        if name == "round":
            digits = node.arguments[1]
            assert isinstance(digits, IntegerLiteral)
            factor = 10.0**digits.value
            number = values[0].cast(pl.Float64)
            # The row evaluator's round_half_away, operation for operation.
            return number.sign() * (number.abs() * factor + 0.5).floor() / factor
        raise AssertionError(f"function without a compiler: {name}")

    def ctcae_grade(self, node: Call) -> pl.Expr:
        """Return the CTCAE grade over the terms the rule names, as the row evaluator does."""
        term, *rest = node.arguments
        unit = rest.pop() if len(rest) == 5 else None
        assert isinstance(term, TextLiteral)
        given = [self.visit(argument).cast(pl.Float64) for argument in rest]
        given += [pl.lit(None, dtype=pl.Float64)] * (4 - len(given))
        grades = []
        for each in terms_named(term.value):
            bounds, factor = grading_plan(each, unit.value if isinstance(unit, TextLiteral) else "")
            scaled = given if factor == 1.0 else [amount * factor for amount in given]
            columns = Columns(value=scaled[0], lln=scaled[1], uln=scaled[2], baseline=scaled[3])
            grades.append(grade_expression(each, bounds, columns))
        if len(grades) == 1:
            return grades[0].cast(pl.Int64)
        # The highest positive grade; else unknown when a term cannot tell; else 0.
        positive = pl.any_horizontal([grade > 0 for grade in grades])
        unknown = pl.any_horizontal([grade.is_null() for grade in grades])
        return (
            pl.when(positive)
            .then(pl.max_horizontal(grades))
            .when(unknown)
            .then(pl.lit(None, dtype=pl.Int8))
            .otherwise(pl.lit(0, dtype=pl.Int8))
            .cast(pl.Int64)
        )

    def count_where(self, condition: Node, element: Reference) -> pl.Expr:
        """Return the entries of the List column ``element`` where ``condition`` is true."""
        each = _Compiler(self.checked, self.clock, element=element.key).condition(condition)
        # A condition that reads no entry (folded to a constant) still counts per entry.
        holds = (pl.element().is_null() | pl.element().is_not_null()) & each
        counted = pl.col(element.key).list.eval(holds.fill_null(False)).list.sum()
        return counted.cast(pl.Int64).fill_null(0)

    def aggregate(self, name: str, argument: Node) -> pl.Expr:
        rows = self.visit(argument).list
        if name == "count":
            # len() minus the missing entries: dropping nulls first copies the lists (60x slower).
            present = self.visit(argument).list.len() - rows.count_matches(None)
            return present.cast(pl.Int64).fill_null(0)
        if name == "sum":
            # No rows (or only missing ones) sum to zero, like the row evaluator.
            return rows.sum().fill_null(0)
        return rows.min() if name == "min" else rows.max()


def to_polars(checked: CheckedExpression, *, clock: Clock = utc_today) -> pl.Expr:
    """Return a Polars expression computing ``checked`` over a frame, one value per row.

    Column names are the references as written (see ``references``); today() is read from
    ``clock`` once, when compiling.
    """
    return _Compiler(checked, clock).visit(checked.root)


def evaluate_frame(
    checked: CheckedExpression, frame: pl.DataFrame | pl.LazyFrame, *, clock: Clock = utc_today
) -> pl.Series:
    """Return the value of ``checked`` for every row of ``frame`` (null where missing)."""
    lazy = frame.lazy() if isinstance(frame, pl.DataFrame) else frame
    # with_columns() broadcasts an expression that reads no column to the frame's height.
    expression = to_polars(checked, clock=clock).alias("__carnet_result")
    return lazy.with_columns(expression).select("__carnet_result").collect().to_series()
