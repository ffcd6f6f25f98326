"""Translate REDCap branching and calculation logic into the Carnet expression language.

REDCap logic (``[baseline_arm_1][weight] > 40 and [sex] = '1'``) is read with its own small
parser and rewritten as a Carnet tree, then printed. Whatever has no faithful translation is
refused with its position and the reason; nothing is dropped silently. docs/expressions.md
has the translation table.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from carnet.expressions.errors import Position, Problem, RedcapTranslationError
from carnet.expressions.symbols import SymbolTable, ValueType
from carnet.expressions.syntax import (
    Binary,
    BooleanLiteral,
    Call,
    DateLiteral,
    DecimalLiteral,
    IntegerLiteral,
    MissingLiteral,
    Negate,
    Node,
    Not,
    Reference,
    Span,
    TextLiteral,
    unparse,
)

# REDCap's datediff() units, as factors applied to a number of days (REDCap's own constants).
_DATEDIFF_UNITS: Mapping[str, tuple[str, float | int]] = {
    "d": ("*", 1),
    "w": ("/", 7),
    "M": ("/", 30.44),
    "y": ("/", 365.2425),
    "h": ("*", 24),
    "m": ("*", 1440),
    "s": ("*", 86400),
}
_DIRECT_FUNCTIONS = {"abs": "abs", "isblankormissingcode": "is_missing"}
_NUMBER_TEXT = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_TOKEN = re.compile(
    r"""(?P<space>\s+)
      | (?P<field>\[[^\[\]]*\])
      | (?P<number>[0-9]+(?:\.[0-9]+)?)
      | (?P<text>'[^']*'|"[^"]*")
      | (?P<operator><>|!=|<=|>=|==|&&|\|\||[=<>+\-*/^(),])
      | (?P<word>[A-Za-z_][A-Za-z0-9_]*)""",
    re.VERBOSE,
)
_FIELD = re.compile(r"[a-z][a-z0-9_]*")
_CHECKBOX = re.compile(r"([a-z][a-z0-9_]*)\((-?[A-Za-z0-9_.]+)\)")


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    start: int

    @property
    def end(self) -> int:
        return self.start + len(self.text)


@dataclass(frozen=True)
class _Blank:
    """REDCap's empty text '' : a test for blank in comparisons, missing elsewhere."""

    span: Span


@dataclass(frozen=True)
class _Checkbox:
    """``[field(code)]``: REDCap's 1 when the code is ticked, 0 when it is not."""

    reference: Reference
    code: int | str
    span: Span


_Parsed = Node | _Blank | _Checkbox


class _Refused(Exception):
    """Stop reading: the logic is not well formed, so nothing after this point can be trusted."""


class _Translator:
    def __init__(self, logic: str, events: Mapping[str, str], symbols: SymbolTable | None) -> None:
        self.logic = logic
        self.events = events
        self.symbols = symbols
        self.problems: list[Problem] = []
        self.tokens: list[_Token] = []
        self.index = 0

    # Reading ---------------------------------------------------------------------------

    def refuse(self, start: int, end: int, message: str) -> MissingLiteral:
        """Record a refusal and return a stand-in, so the rest of the logic is still read."""
        self.problems.append(Problem(message, Position.in_text(self.logic, start), end))
        return MissingLiteral(span=Span(start, end))

    def tokenize(self) -> list[_Token]:
        tokens: list[_Token] = []
        offset = 0
        while offset < len(self.logic):
            match = _TOKEN.match(self.logic, offset)
            if match is None:
                self.refuse(offset, offset + 1, f"unexpected character {self.logic[offset]!r}")
                raise _Refused
            kind = match.lastgroup
            assert kind is not None
            if kind != "space":
                tokens.append(_Token(kind, match.group(), offset))
            offset = match.end()
        return tokens

    def peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def at(self, *texts: str) -> bool:
        token = self.peek()
        return token is not None and token.text.lower() in texts

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            end = len(self.logic)
            self.refuse(end, end, "the logic ends too early")
            raise _Refused
        self.index += 1
        return token

    def expect(self, text: str) -> _Token:
        token = self.take()
        if token.text != text:
            self.refuse(token.start, token.end, f"expected {text!r}, found {token.text!r}")
            raise _Refused
        return token

    # Grammar: or < and < comparison < + - < * / < ^ < unary minus -----------------------

    def logic_expression(self) -> _Parsed:
        left = self.conjunction()
        while self.at("or", "||"):
            self.take()
            left = self.connect("or", left, self.conjunction())
        return left

    def conjunction(self) -> _Parsed:
        left = self.comparison()
        while self.at("and", "&&"):
            self.take()
            left = self.connect("and", left, self.comparison())
        return left

    def connect(self, operator: str, left: _Parsed, right: _Parsed) -> Node:
        left_node, right_node = self.value(left), self.value(right)
        return Binary(operator, left_node, right_node, span=_cover(left_node, right_node))

    def comparison(self) -> _Parsed:
        left = self.sum()
        if self.at("=", "==", "<>", "!=", "<", "<=", ">", ">="):
            operator = self.take().text
            return self.compare(operator, left, self.sum())
        return left

    def sum(self) -> _Parsed:
        left = self.product()
        while self.at("+", "-"):
            operator = self.take().text
            left = self.arithmetic(operator, left, self.product())
        return left

    def product(self) -> _Parsed:
        left = self.power()
        while self.at("*", "/"):
            operator = self.take().text
            left = self.arithmetic(operator, left, self.power())
        return left

    def power(self) -> _Parsed:
        base = self.unary()
        if not self.at("^"):
            return base
        caret = self.take()
        exponent = self.unary()
        base_node = self.value(base)
        if isinstance(exponent, IntegerLiteral) and exponent.value in (2, 3):
            # x^2 and x^3 (BMI, volumes) are repeated products; other powers are refused.
            result: Node = base_node
            for _ in range(exponent.value - 1):
                result = Binary("*", result, base_node, span=base_node.span)
            return result
        return self.refuse(
            caret.start, caret.end, "only ^2 and ^3 translate (as products); write other powers out"
        )

    def unary(self) -> _Parsed:
        if self.at("-"):
            minus = self.take()
            operand = self.value(self.unary())
            if isinstance(operand, IntegerLiteral):
                return IntegerLiteral(-operand.value, span=Span(minus.start, operand.span.end))
            if isinstance(operand, DecimalLiteral):
                return DecimalLiteral(-operand.value, span=Span(minus.start, operand.span.end))
            return Negate(operand, span=Span(minus.start, operand.span.end))
        return self.primary()

    def primary(self) -> _Parsed:
        token = self.take()
        span = Span(token.start, token.end)
        if token.text == "(":
            inner = self.logic_expression()
            self.expect(")")
            return inner
        if token.kind == "number":
            return _number(token.text, span)
        if token.kind == "text":
            body = token.text[1:-1]
            return _Blank(span) if body == "" else TextLiteral(body, span=span)
        if token.kind == "field":
            return self.field(token)
        if token.kind == "word":
            lowered = token.text.lower()
            if lowered in ("true", "false"):
                return BooleanLiteral(lowered == "true", span=span)
            if self.at("("):
                return self.function(token)
            return self.refuse(
                token.start, token.end, f"{token.text!r} is not REDCap logic (fields are in [])"
            )
        self.refuse(token.start, token.end, f"unexpected {token.text!r}")
        raise _Refused

    def field(self, token: _Token) -> _Parsed:
        parts = [token]
        while (following := self.peek()) is not None and following.kind == "field":
            parts.append(self.take())
        start, end = parts[0].start, parts[-1].end
        names = [part.text[1:-1].strip() for part in parts]
        if len(names) > 2 or (len(names) == 2 and names[1].isdigit()):
            return self.refuse(start, end, "repeating instances ([field][n]) do not translate")
        for name in names:
            if "-" in name or name.startswith("aggregate"):
                return self.refuse(
                    start, end, f"the smart variable [{name}] has no equivalent in Carnet"
                )
            if ":" in name:
                return self.refuse(
                    start, end, f"[{name}]: field options (:value, :label…) do not translate"
                )
        event = self.events.get(names[0], names[0]) if len(names) == 2 else None
        written = names[-1]
        span = Span(start, end)
        checkbox = _CHECKBOX.fullmatch(written)
        if checkbox is not None:
            code_text = checkbox.group(2)
            code: int | str = int(code_text) if _NUMBER_TEXT.fullmatch(code_text) else code_text
            reference = Reference(checkbox.group(1), event, span=span)
            return _Checkbox(reference, code, span)
        if _FIELD.fullmatch(written) is None:
            return self.refuse(start, end, f"[{written}] is not a REDCap field name")
        return Reference(written, event, span=span)

    def arguments(self) -> list[_Parsed]:
        self.expect("(")
        found: list[_Parsed] = []
        if self.at(")"):
            self.take()
            return found
        found.append(self.logic_expression())
        while self.at(","):
            self.take()
            found.append(self.logic_expression())
        self.expect(")")
        return found

    # Meaning -----------------------------------------------------------------------------

    def value(self, parsed: _Parsed) -> Node:
        """Return ``parsed`` used as a value: blank is missing, a checkbox is 1 or 0."""
        if isinstance(parsed, _Blank):
            return MissingLiteral(span=parsed.span)
        if isinstance(parsed, _Checkbox):
            ticked = self.ticked(parsed)
            return Call("if", (ticked, IntegerLiteral(1), IntegerLiteral(0)), span=parsed.span)
        return parsed

    @staticmethod
    def ticked(checkbox: _Checkbox) -> Call:
        code = checkbox.code
        literal: Node = IntegerLiteral(code) if isinstance(code, int) else TextLiteral(code)
        return Call("contains", (checkbox.reference, literal), span=checkbox.span)

    def is_text(self, node: Node) -> bool:
        if self.symbols is None or not isinstance(node, Reference):
            return False
        symbol = self.symbols.get(node.name)
        return symbol is not None and symbol.type == ValueType.TEXT

    def literal_for(self, literal: _Parsed, other: _Parsed) -> _Parsed:
        """Return a quoted number as a number, as REDCap compares '1' and 1 alike.

        A quoted number compared with a text item stays text.
        """
        quoted_number = isinstance(literal, TextLiteral) and _NUMBER_TEXT.fullmatch(literal.value)
        if quoted_number and not (isinstance(other, Node) and self.is_text(other)):
            assert isinstance(literal, TextLiteral)
            return _number(literal.value, literal.span)
        return literal

    def compare(self, operator: str, left: _Parsed, right: _Parsed) -> Node:
        left, right = self.literal_for(left, right), self.literal_for(right, left)
        span = Span(_span(left).start, _span(right).end)
        equal = operator in ("=", "==")
        if isinstance(left, _Blank) or isinstance(right, _Blank):
            other = right if isinstance(left, _Blank) else left
            if operator not in ("=", "==", "<>", "!=") or isinstance(other, _Checkbox | _Blank):
                return self.refuse(span.start, span.end, "only = '' and <> '' test for blank")
            blank = Call("is_missing", (self.value(other),), span=span)
            return blank if equal else Not(blank, span=span)
        for checkbox, other in ((left, right), (right, left)):
            if (
                isinstance(checkbox, _Checkbox)
                and isinstance(other, IntegerLiteral)
                and operator in ("=", "==", "<>", "!=")
                and other.value in (0, 1)
            ):
                ticked = self.ticked(checkbox)
                wanted = (other.value == 1) == equal
                return ticked if wanted else Not(ticked, span=span)
        left_node, right_node = self.value(left), self.value(right)
        if equal:
            return Binary("=", left_node, right_node, span=span)
        if operator in ("<>", "!="):
            different = Binary("!=", left_node, right_node, span=span)
            if _is_constant(left_node) and _is_constant(right_node):
                return different
            # REDCap: a blank field is "not equal" to any value, so blank <> 1 is true.
            return Call("coalesce", (different, BooleanLiteral(True)), span=span)
        return Binary(operator, left_node, right_node, span=span)

    def arithmetic(self, operator: str, left: _Parsed, right: _Parsed) -> Node:
        left_node, right_node = self.value(left), self.value(right)
        if isinstance(left_node, TextLiteral) or isinstance(right_node, TextLiteral):
            left_node = self.value(self.literal_for(left_node, right_node))
            right_node = self.value(self.literal_for(right_node, left_node))
        return Binary(operator, left_node, right_node, span=_cover(left_node, right_node))

    def function(self, token: _Token) -> Node:
        name = token.text.lower()
        arguments = self.arguments()
        end = self.tokens[self.index - 1].end
        span = Span(token.start, end)
        if name == "if":
            if len(arguments) != 3:
                return self.refuse(span.start, span.end, "if() takes 3 arguments")
            return Call("if", tuple(self.value(argument) for argument in arguments), span=span)
        if name == "datediff":
            return self.datediff(arguments, span)
        if name in ("sum", "min", "max"):
            values = tuple(
                self.value(self.literal_for(argument, argument)) for argument in arguments
            )
            if not values:
                return self.refuse(span.start, span.end, f"{name}() needs values")
            # One value: REDCap's sum/min/max of it is the value itself.
            return values[0] if len(values) == 1 else Call(name, values, span=span)
        if name in ("round", "rounddown"):
            return self.rounding(name, arguments, span)
        if name in _DIRECT_FUNCTIONS and len(arguments) == 1:
            return Call(_DIRECT_FUNCTIONS[name], (self.value(arguments[0]),), span=span)
        return self.refuse(
            token.start, token.end, f"the REDCap function {token.text}() has no Carnet equivalent"
        )

    def rounding(self, name: str, arguments: list[_Parsed], span: Span) -> Node:
        values = [self.value(self.literal_for(argument, argument)) for argument in arguments]
        digits = values[1] if len(values) == 2 else IntegerLiteral(0)
        if not 1 <= len(values) <= 2 or not isinstance(digits, IntegerLiteral):
            return self.refuse(span.start, span.end, f"{name}() needs a number and fixed digits")
        if name == "round":
            return Call("round", (values[0], digits), span=span)
        if digits.value != 0:
            return self.refuse(span.start, span.end, "rounddown() translates with 0 digits only")
        # floor() equals rounddown() for the positive values (ages, durations) it is used on.
        return Call("floor", (values[0],), span=span)

    def datediff(self, arguments: list[_Parsed], span: Span) -> Node:
        if not 3 <= len(arguments) <= 5:
            return self.refuse(span.start, span.end, "datediff() takes 3 to 5 arguments")
        unit = arguments[2]
        if not isinstance(unit, TextLiteral) or unit.value not in _DATEDIFF_UNITS:
            return self.refuse(
                span.start,
                span.end,
                "datediff() needs a unit among 'y', 'M', 'w', 'd', 'h', 'm', 's'",
            )
        signed = False
        for extra in arguments[3:]:
            if isinstance(extra, BooleanLiteral):
                signed = extra.value
            elif isinstance(extra, TextLiteral) and extra.value.lower() in ("true", "false"):
                signed = extra.value.lower() == "true"
        start, end = (self.date_argument(argument) for argument in arguments[:2])
        days: Node = Call("days_between", (start, end), span=span)
        operator, factor = _DATEDIFF_UNITS[unit.value]
        if factor != 1:
            literal: Node = (
                IntegerLiteral(factor) if isinstance(factor, int) else DecimalLiteral(factor)
            )
            days = Binary(operator, days, literal, span=span)
        # REDCap returns the absolute difference unless asked for a signed one.
        return days if signed else Call("abs", (days,), span=span)

    def date_argument(self, argument: _Parsed) -> Node:
        if isinstance(argument, TextLiteral):
            if argument.value.lower() == "today":
                return Call("today", (), span=argument.span)
            if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", argument.value):
                try:
                    return DateLiteral(date.fromisoformat(argument.value), span=argument.span)
                except ValueError:
                    pass
            return self.refuse(
                argument.span.start, argument.span.end, f"{argument.value!r} is not a date"
            )
        return self.value(argument)

    def translate(self) -> Node:
        if not self.tokens:
            self.refuse(0, 0, "the logic is empty")
            raise _Refused
        result = self.value(self.logic_expression())
        token = self.peek()
        if token is not None:
            self.refuse(token.start, token.end, f"unexpected {token.text!r}")
        return result


def _number(text: str, span: Span) -> IntegerLiteral | DecimalLiteral:
    if "." in text:
        return DecimalLiteral(float(text), span=span)
    return IntegerLiteral(int(text), span=span)


def _span(parsed: _Parsed) -> Span:
    return parsed.span


def _cover(left: Node, right: Node) -> Span:
    return Span(left.span.start, right.span.end)


def _is_constant(node: Node) -> bool:
    return isinstance(node, IntegerLiteral | DecimalLiteral | TextLiteral | BooleanLiteral)


def translate_redcap(
    logic: str,
    *,
    events: Mapping[str, str] | None = None,
    symbols: SymbolTable | None = None,
) -> str:
    """Return REDCap branching or calculation logic rewritten in the Carnet language.

    ``events`` renames REDCap unique event names (``baseline_arm_1``) to Carnet events;
    ``symbols``, when given, keeps quoted numbers as text where compared with a text item.
    Raises RedcapTranslationError listing every refusal with its position in ``logic``.
    """
    translator = _Translator(logic, events or {}, symbols)
    try:
        translator.tokens = translator.tokenize()
        result = translator.translate()
    except _Refused:
        raise RedcapTranslationError(logic, translator.problems) from None
    if translator.problems:
        raise RedcapTranslationError(logic, translator.problems)
    return unparse(result)
