"""Type-check an expression against a study's symbol table, reporting every error located."""

from collections.abc import Mapping
from dataclasses import dataclass, field

from carnet.core.ctcae import ANALYTES, TERMS_BY_CODE, UnknownTerm, grading_plan, terms_named
from carnet.core.lab_units import UnitError
from carnet.expressions.errors import ExpressionCheckError, Position, Problem
from carnet.expressions.limits import DEFAULT_LIMITS
from carnet.expressions.parsing import Expression
from carnet.expressions.symbols import NUMBERS, Symbol, SymbolTable, ValueType
from carnet.expressions.syntax import (
    ARITHMETIC,
    Binary,
    BooleanLiteral,
    Call,
    DateLiteral,
    DecimalLiteral,
    InList,
    IntegerLiteral,
    Literal,
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
AGGREGATES = frozenset({"sum", "count", "min", "max"})


def counted_element(node: Node) -> Reference | None:
    """Return the repeating item ``count(condition)`` reads entry by entry (None: not one)."""
    if isinstance(node, Call) and node.function == "count" and len(node.arguments) == 1:
        (argument,) = node.arguments
        if not isinstance(argument, Reference):
            return next((inner for inner in walk(argument) if isinstance(inner, Reference)), None)
    return None


# Every function the language knows, with the number of arguments it takes (min, max).
FUNCTIONS: Mapping[str, tuple[int, int]] = {
    "if": (3, 3),
    "coalesce": (2, 50),
    "is_missing": (1, 1),
    "today": (0, 0),
    "days_between": (2, 2),
    "months_between": (2, 2),
    "years_between": (2, 2),
    "sum": (1, 50),
    "count": (1, 1),
    "min": (1, 50),
    "max": (1, 50),
    "contains": (2, 2),
    "abs": (1, 1),
    "floor": (1, 1),
    "round": (2, 2),
    # ctcae_grade(term, value, lln, uln[, baseline[, unit]]): the CTCAE v5.0 grade, 0 to 4.
    "ctcae_grade": (4, 6),
}
MAX_ROUND_DIGITS = 10
_ORDERED = frozenset({T.INTEGER, T.DECIMAL, T.TEXT, T.DATE, T.DATETIME, T.TIME})
_EQUATABLE = _ORDERED | {T.BOOLEAN}


@dataclass(frozen=True)
class CheckedExpression:
    """An expression that fits the study: its ``type`` and the type of each of its nodes."""

    expression: Expression
    type: ValueType
    _node_types: Mapping[int, ValueType] = field(repr=False)

    @property
    def root(self) -> Node:
        """Return the tree of the expression."""
        return self.expression.root

    def type_of(self, node: Node) -> ValueType:
        """Return the type the checker gave to ``node``, one of this expression's nodes."""
        return self._node_types[id(node)]

    def type_of_or_none(self, node: Node) -> ValueType | None:
        """Return the type the checker gave to ``node``; None for a node it did not type (a
        CTCAE term's name)."""
        return self._node_types.get(id(node))

    def __str__(self) -> str:
        return str(self.expression)


def _describe(value_type: ValueType | None) -> str:
    return "a multiple-choice value" if value_type == T.CODES else f"a {value_type} value"


def _literal_type(node: Literal) -> ValueType:
    if isinstance(node, BooleanLiteral):
        return T.BOOLEAN
    if isinstance(node, IntegerLiteral):
        return T.INTEGER
    if isinstance(node, DecimalLiteral):
        return T.DECIMAL
    if isinstance(node, TextLiteral):
        return T.TEXT
    return T.DATE


def _unify(first: ValueType, second: ValueType) -> ValueType | None:
    """Return the type that holds values of both types, or None when there is none."""
    if first == T.MISSING:
        return second
    if second == T.MISSING or first == second:
        return first
    if first in NUMBERS and second in NUMBERS:
        return T.DECIMAL
    return None


class _Checker:
    def __init__(self, expression: Expression, symbols: SymbolTable) -> None:
        self.expression = expression
        self.symbols = symbols
        self.problems: list[Problem] = []
        self.types: dict[int, ValueType] = {}
        # Inside count(condition): the repeating items the condition reads, one entry per read.
        self.elements: list[Reference] | None = None

    def complain(self, node: Node, message: str) -> None:
        position = Position.in_text(self.expression.text, node.span.start)
        self.problems.append(Problem(message, position, node.span.end))

    def visit(self, node: Node) -> ValueType | None:
        """Return the type of ``node`` (None after an error, so that errors do not cascade)."""
        found = self.infer(node)
        if found is not None:
            self.types[id(node)] = found
        return found

    def infer(self, node: Node) -> ValueType | None:
        if isinstance(node, MissingLiteral):
            return T.MISSING
        if isinstance(node, IntegerLiteral | DecimalLiteral | TextLiteral | BooleanLiteral):
            return _literal_type(node)
        if isinstance(node, DateLiteral):
            return T.DATE
        if isinstance(node, Reference):
            symbol = self.resolve(node)
            if symbol is None:
                return None
            if symbol.repeating and self.elements is not None:
                self.elements.append(node)
                return symbol.type
            if symbol.repeating:
                self.complain(
                    node,
                    f"{node.key} is in a repeating group: use sum, count, min or max over it,"
                    f" or count() of a condition on it",
                )
                return None
            return symbol.type
        if isinstance(node, Negate):
            operand = self.visit(node.operand)
            if operand is not None and operand not in NUMBERS | {T.MISSING}:
                self.complain(node, f"minus needs a number, not {_describe(operand)}")
                return None
            return operand
        if isinstance(node, Not):
            return self.condition(node.operand, "not")
        if isinstance(node, Binary):
            return self.binary(node)
        if isinstance(node, InList):
            return self.in_list(node)
        if isinstance(node, Call):
            return self.call(node)
        raise TypeError(f"unknown node {node!r}")

    def resolve(self, node: Reference) -> Symbol | None:
        symbol = self.symbols.get(node.name)
        if symbol is None:
            self.complain(node, f"no item is named {node.name!r}")
            return None
        known_events, known_forms = self.symbols.events, self.symbols.forms
        if node.event is not None:
            if known_events is not None and node.event not in known_events:
                self.complain(node, f"no event is named {node.event!r}")
                return None
            if symbol.events is not None and node.event not in symbol.events:
                self.complain(node, f"{node.name} is not collected at event {node.event}")
                return None
        if node.form is not None:
            if known_forms is not None and node.form not in known_forms:
                self.complain(node, f"no form is named {node.form!r}")
                return None
            if symbol.forms is not None and node.form not in symbol.forms:
                self.complain(node, f"{node.name} is not on form {node.form}")
                return None
        return symbol

    def condition(self, node: Node, where: str) -> ValueType | None:
        found = self.visit(node)
        if found is not None and found not in (T.BOOLEAN, T.MISSING):
            self.complain(
                node, f"{where} needs a condition (true or false), not {_describe(found)}"
            )
        return T.BOOLEAN

    def binary(self, node: Binary) -> ValueType | None:
        operator = node.operator
        if operator in ("and", "or"):
            self.condition(node.left, operator)
            self.condition(node.right, operator)
            return T.BOOLEAN
        left, right = self.visit(node.left), self.visit(node.right)
        if left is None or right is None:
            return T.BOOLEAN if operator not in ARITHMETIC else None
        if operator in ARITHMETIC:
            result = self.arithmetic(operator, left, right)
            if result is None:
                self.complain(
                    node, f"cannot apply {operator} to {_describe(left)} and {_describe(right)}"
                )
            return result
        allowed = _EQUATABLE if operator in ("=", "!=") else _ORDERED
        for side in (left, right):
            if side not in allowed | {T.MISSING}:
                hint = ": use contains()" if side == T.CODES else ""
                self.complain(node, f"cannot compare {_describe(side)} with {operator}{hint}")
                return T.BOOLEAN
        if _unify(left, right) is None:
            self.complain(node, f"cannot compare {_describe(left)} with {_describe(right)}")
            return T.BOOLEAN
        if operator in ("=", "!="):
            self.codes_match(node.left, (node.right,))
            self.codes_match(node.right, (node.left,))
        return T.BOOLEAN

    @staticmethod
    def arithmetic(operator: str, left: ValueType, right: ValueType) -> ValueType | None:
        if T.MISSING in (left, right):
            # Always missing, whatever the other side: `date - missing` could be either type.
            other = right if left == T.MISSING else left
            return T.MISSING if other in NUMBERS | {T.DATE, T.MISSING} else None
        if left in NUMBERS and right in NUMBERS:
            if operator == "/" or T.DECIMAL in (left, right):
                return T.DECIMAL
            return T.INTEGER
        # Dates move by whole days; the difference of two dates is a number of days.
        if operator == "+" and {left, right} == {T.DATE, T.INTEGER}:
            return T.DATE
        if operator == "-" and left == T.DATE:
            return {T.INTEGER: T.DATE, T.DATE: T.INTEGER}.get(right)
        return None

    def codes_match(self, maybe_item: Node, literals: tuple[Node, ...]) -> None:
        """Complain when a single-choice item is compared with a value outside its code list."""
        if not isinstance(maybe_item, Reference):
            return
        symbol = self.symbols.get(maybe_item.name)
        if symbol is None or symbol.codes is None or symbol.type == T.CODES:
            return
        for literal in literals:
            if (
                isinstance(literal, IntegerLiteral | TextLiteral)
                and literal.value not in symbol.codes
            ):
                codes = ", ".join(str(code) for code in symbol.codes)
                self.complain(
                    literal, f"{literal.value!r} is not a code of {symbol.name} ({codes})"
                )

    def in_list(self, node: InList) -> ValueType:
        operand = self.visit(node.operand)
        for option in node.options:
            option_type = self.visit(option)
            if operand is None or option_type is None:
                continue
            if operand not in _EQUATABLE | {T.MISSING}:
                self.complain(node, f"cannot look for {_describe(operand)} in a list")
                return T.BOOLEAN
            if _unify(operand, option_type) is None:
                self.complain(option, f"{_describe(option_type)} cannot equal {_describe(operand)}")
        self.codes_match(node.operand, node.options)
        return T.BOOLEAN

    def call(self, node: Call) -> ValueType | None:
        name, arguments = node.function, node.arguments
        if name not in FUNCTIONS:
            known = ", ".join(sorted(FUNCTIONS))
            self.complain(node, f"no function is named {name!r} (known: {known})")
            for argument in arguments:
                self.visit(argument)
            return None
        least, most = FUNCTIONS[name]
        if not least <= len(arguments) <= most:
            wanted = str(least) if least == most else f"{least} to {most}"
            self.complain(node, f"{name}() takes {wanted} arguments, not {len(arguments)}")
            return None
        if name in AGGREGATES and len(arguments) == 1:
            return self.aggregate(node)
        if name == "contains":
            return self.contains(node)
        if name == "ctcae_grade":
            return self.ctcae_grade(node)
        types = [self.visit(argument) for argument in arguments]
        if any(found is None for found in types):
            return None
        return self.function_result(node, [found for found in types if found is not None])

    def function_result(self, node: Call, types: list[ValueType]) -> ValueType | None:
        name, arguments = node.function, node.arguments
        if name == "is_missing":
            return T.BOOLEAN
        if name == "today":
            return T.DATE
        if name == "if":
            if types[0] not in (T.BOOLEAN, T.MISSING):
                self.complain(
                    arguments[0], f"if() needs a condition first, not {_describe(types[0])}"
                )
            return self.common(node, types[1:], f"the branches of {name}()")
        if name == "coalesce":
            return self.common(node, types, "the values of coalesce()")
        if name.endswith("_between"):
            for argument, found in zip(arguments, types, strict=True):
                if found not in (T.DATE, T.MISSING):
                    self.complain(argument, f"{name}() needs dates, not {_describe(found)}")
            return T.INTEGER
        if name in ("sum", "min", "max"):
            allowed = NUMBERS if name == "sum" else NUMBERS | {T.DATE}
            return self.common(node, types, f"the values of {name}()", allowed)
        if name in ("abs", "floor", "round"):
            if types[0] not in NUMBERS | {T.MISSING}:
                self.complain(arguments[0], f"{name}() needs a number, not {_describe(types[0])}")
                return None
            if name == "round":
                digits = arguments[1]
                if not (
                    isinstance(digits, IntegerLiteral) and 0 <= digits.value <= MAX_ROUND_DIGITS
                ):
                    self.complain(
                        digits, f"round() needs a whole number of digits, 0 to {MAX_ROUND_DIGITS}"
                    )
                return T.DECIMAL
            if name == "floor":
                return T.INTEGER
            return types[0] if types[0] != T.MISSING else T.DECIMAL
        raise AssertionError(f"function without a type rule: {name}")

    def common(
        self,
        node: Call,
        types: list[ValueType],
        what: str,
        allowed: frozenset[ValueType] | None = None,
    ) -> ValueType | None:
        result: ValueType | None = T.MISSING
        for argument, found in zip(node.arguments[-len(types) :], types, strict=True):
            if allowed is not None and found not in allowed | {T.MISSING}:
                self.complain(argument, f"{what} cannot include {_describe(found)}")
                return None
            assert result is not None
            result = _unify(result, found)
            if result is None:
                self.complain(node, f"{what} must have one type, not {', '.join(types)}")
                return None
        return result

    def aggregate(self, node: Call) -> ValueType | None:
        (argument,) = node.arguments
        name = node.function
        if name == "count" and not isinstance(argument, Reference):
            return self.count_where(node, argument)
        if not isinstance(argument, Reference):
            self.complain(argument, f"{name}() of one value needs an item of a repeating group")
            self.visit(argument)
            return None
        symbol = self.resolve(argument)
        if symbol is None:
            return None
        if not symbol.repeating:
            self.complain(
                argument,
                f"{argument.key} is not in a repeating group, so {name}() has nothing to aggregate",
            )
            return None
        self.types[id(argument)] = symbol.type
        if name == "count":
            return T.INTEGER
        allowed = NUMBERS if name == "sum" else NUMBERS | {T.DATE}
        if symbol.type not in allowed:
            self.complain(argument, f"{name}() cannot aggregate {_describe(symbol.type)}")
            return None
        return symbol.type

    def count_where(self, node: Call, condition: Node) -> ValueType | None:
        """Type ``count(condition)``: the rows of a repeating group where the condition holds.

        The condition reads one item of a repeating group, entry by entry, and constants: a
        whole-study check compiles it to one Polars list operation per subject."""
        for inner in walk(condition):
            if isinstance(inner, Call) and inner.function in AGGREGATES:
                if inner.function == "count" and counted_element(inner) is not None:
                    self.complain(inner, "count() of a condition cannot hold another one")
                else:
                    self.complain(inner, f"{inner.function}() cannot be used inside count()")
                return None
        self.elements = []
        try:
            self.condition(condition, "count() of several rows")
            elements = self.elements
        finally:
            self.elements = None
        for inner in walk(condition):
            if isinstance(inner, Reference):
                symbol = self.symbols.get(inner.name)
                if symbol is not None and not symbol.repeating:
                    self.complain(
                        inner,
                        "count() of a condition compares the rows of one repeating item with"
                        f" constants, not with {inner.key}",
                    )
                    return None
        keys = sorted({element.key for element in elements})
        if not keys:
            self.complain(condition, "count() of a condition needs an item of a repeating group")
            return None
        if len(keys) > 1:
            self.complain(
                condition,
                "count() of a condition reads one item of a repeating group,"
                f" not {', '.join(keys)}",
            )
            return None
        return T.INTEGER

    def ctcae_grade(self, node: Call) -> ValueType | None:
        """Type ``ctcae_grade(term, value, lln, uln[, baseline[, unit]])``: a grade, 0 to 4.

        The term is a quoted CTCAE term code or analyte name, checked here so that a study
        naming an unknown one is refused where it is written; the unit, when given, a quoted
        unit the term's thresholds can be converted from."""
        term, *numbers = node.arguments
        unit = numbers.pop() if len(numbers) == 5 else None
        ok = True
        for argument in numbers:
            found = self.visit(argument)
            if found is not None and found not in NUMBERS | {T.MISSING}:
                self.complain(argument, f"ctcae_grade() needs numbers, not {_describe(found)}")
                ok = False
        if not isinstance(term, TextLiteral):
            self.visit(term)
            self.complain(term, "ctcae_grade() needs a quoted CTCAE term or analyte first")
            return None
        self.types[id(term)] = T.TEXT
        try:
            terms = terms_named(term.value)
        except UnknownTerm:
            known = ", ".join(sorted({*TERMS_BY_CODE, *ANALYTES}))
            self.complain(
                term, f"no CTCAE term or analyte is named {term.value!r} (known: {known})"
            )
            return None
        if unit is not None:
            if not isinstance(unit, TextLiteral):
                self.visit(unit)
                self.complain(unit, "ctcae_grade() needs a quoted unit last")
                return None
            self.types[id(unit)] = T.TEXT
            for each in terms:
                try:
                    grading_plan(each, unit.value)
                except UnitError as error:
                    self.complain(unit, str(error))
                    return None
        return T.INTEGER if ok else None

    def contains(self, node: Call) -> ValueType:
        item, code = node.arguments
        symbol = self.resolve(item) if isinstance(item, Reference) else None
        if symbol is None or symbol.type != T.CODES or symbol.repeating:
            if not isinstance(item, Reference) or (symbol is not None):
                self.complain(item, "contains() needs a multiple-choice item first")
            return T.BOOLEAN
        self.types[id(item)] = T.CODES
        if not isinstance(code, IntegerLiteral | TextLiteral):
            self.complain(code, "contains() needs a code (a number or a quoted text) second")
            return T.BOOLEAN
        self.types[id(code)] = _literal_type(code)
        if _literal_type(code) != symbol.code_type or (
            symbol.codes is not None and code.value not in symbol.codes
        ):
            codes = ", ".join(str(known) for known in symbol.codes or ())
            self.complain(code, f"{code.value!r} is not a code of {symbol.name} ({codes})")
        return T.BOOLEAN


def _depth(root: Node) -> int:
    deepest = 0
    pending = [(root, 1)]
    while pending:
        node, depth = pending.pop()
        deepest = max(deepest, depth)
        pending.extend((child, depth + 1) for child in children(node))
    return deepest


EXPECTED_DESCRIPTION = {T.BOOLEAN: "a condition (true or false)"}


def check(
    expression: Expression, symbols: SymbolTable, *, expected: ValueType | None = None
) -> CheckedExpression:
    """Return the expression with its types, or raise ExpressionCheckError listing every error.

    ``expected`` is the type the caller needs: BOOLEAN for branching, edit checks, eligibility
    and filters, the item's type for a calculation (an integer fits where a decimal is expected).
    """
    checker = _Checker(expression, symbols)
    if _depth(expression.root) > DEFAULT_LIMITS.max_depth:
        checker.complain(expression.root, "the expression nests too deeply")
        raise ExpressionCheckError(checker.problems)
    found = checker.visit(expression.root)
    if expected is not None and found is not None and found != T.MISSING:
        fits = found == expected or (expected == T.DECIMAL and found == T.INTEGER)
        if not fits:
            wanted = EXPECTED_DESCRIPTION.get(expected, _describe(expected))
            checker.complain(
                expression.root, f"the expression gives {_describe(found)}, not {wanted}"
            )
    if checker.problems:
        problems = sorted(checker.problems, key=lambda problem: problem.position.offset)
        raise ExpressionCheckError(problems)
    assert found is not None
    return CheckedExpression(expression, found, checker.types)
