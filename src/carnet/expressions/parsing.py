"""Parse expression text into a tree, refusing what breaks the grammar or the size limits."""

import math
from dataclasses import dataclass
from datetime import date
from functools import cache, lru_cache
from importlib.resources import files

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.lexer import PatternStr

from carnet.expressions.errors import ExpressionSyntaxError, Position, Problem
from carnet.expressions.limits import DEFAULT_LIMITS, Limits
from carnet.expressions.syntax import (
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
    Span,
    TextLiteral,
    unparse,
)

KEYWORDS = frozenset({"and", "or", "not", "in", "true", "false", "missing"})


@dataclass(frozen=True)
class Expression:
    """A parsed expression: the ``text`` it was read from and its tree (``root``)."""

    text: str
    root: Node

    def __str__(self) -> str:
        return unparse(self.root)


@cache
def _parser() -> Lark:
    grammar = files("carnet.expressions").joinpath("grammar.lark").read_text(encoding="utf-8")
    # LALR builds the tree with an explicit stack: deep nesting cannot exhaust Python's stack.
    return Lark(grammar, parser="lalr", propagate_positions=True, maybe_placeholders=False)


_READABLE = {
    "NAME": "a name",
    "INTEGER": "a number",
    "DECIMAL": "a number",
    "STRING": "a quoted text",
    "$END": "the end",
}


@cache
def _keyword_texts() -> dict[str, str]:
    return {
        terminal.name: repr(terminal.pattern.value)
        for terminal in _parser().terminals
        if isinstance(terminal.pattern, PatternStr)
    }


def _expected(names: set[str]) -> str:
    readable = sorted({_READABLE.get(name) or _keyword_texts().get(name, name) for name in names})
    if len(readable) > 6:
        return "an operator" if "'and'" in readable else "a value"
    return ", ".join(readable)


def _refuse(text: str, offset: int, message: str, end: int | None = None) -> ExpressionSyntaxError:
    position = Position.in_text(text, offset)
    return ExpressionSyntaxError(Problem(message, position, offset if end is None else end))


def _syntax_error(text: str, error: UnexpectedInput) -> ExpressionSyntaxError:
    if isinstance(error, UnexpectedCharacters):
        offset = error.pos_in_stream or 0
        return _refuse(text, offset, f"unexpected character {text[offset]!r}")
    if isinstance(error, UnexpectedEOF):
        return _refuse(
            text,
            len(text),
            f"the expression ends too early; expected {_expected(set(error.expected))}",
        )
    assert isinstance(error, UnexpectedToken)
    token = error.token
    if token.type == "$END":
        return _refuse(
            text, len(text), f"the expression ends too early; expected {_expected(error.expected)}"
        )
    found = "the end" if token.type == "$END" else repr(str(token))
    offset = token.start_pos if token.start_pos is not None else len(text)
    return _refuse(text, offset, f"unexpected {found}; expected {_expected(error.expected)}")


def _unescape(quoted: str) -> str:
    body = quoted[1:-1]
    out: list[str] = []
    escaped = False
    for character in body:
        if escaped:
            out.append(character)
            escaped = False
        elif character == "\\":
            escaped = True
        else:
            out.append(character)
    return "".join(out)


_COMPARISON_RULES = {
    "equal": "=",
    "not_equal": "!=",
    "less": "<",
    "less_or_equal": "<=",
    "greater": ">",
    "greater_or_equal": ">=",
    "add": "+",
    "subtract": "-",
    "multiply": "*",
    "divide": "/",
    "and_": "and",
    "or_": "or",
}
_LITERAL_RULES = frozenset({"integer", "decimal", "text", "true", "false", "missing"})


class _Builder:
    """Turn lark's tree into ours bottom-up with an explicit stack, enforcing the limits."""

    def __init__(self, text: str, limits: Limits) -> None:
        self.text = text
        self.limits = limits
        self.nodes = 0

    def refuse(self, span: Span, message: str) -> ExpressionSyntaxError:
        return _refuse(self.text, span.start, message, span.end)

    def build(self, tree: Tree[Token] | Token) -> Node:
        # Each entry: (lark tree or token, children already built?); results hold (value, depth).
        pending: list[tuple[Tree[Token] | Token, bool]] = [(tree, False)]
        results: list[tuple[object, int]] = []
        while pending:
            item, expanded = pending.pop()
            if isinstance(item, Token):
                results.append((item, 0))
            elif not expanded:
                pending.append((item, True))
                pending.extend((child, False) for child in reversed(item.children))
            else:
                count = len(item.children)
                built = results[len(results) - count :] if count else []
                del results[len(results) - count :]
                span = Span(item.meta.start_pos, item.meta.end_pos)
                depth = 1 + max((child_depth for _, child_depth in built), default=0)
                value = self.make(str(item.data), [value for value, _ in built], span)
                if isinstance(value, Node):
                    self.count(value, depth)
                results.append((value, depth))
        ((root, _),) = results
        assert isinstance(root, Node)
        return root

    def count(self, node: Node, depth: int) -> None:
        self.nodes += 1
        limits = self.limits
        if self.nodes > limits.max_nodes:
            message = f"the expression is too large (more than {limits.max_nodes} parts)"
            raise self.refuse(node.span, message)
        if depth > limits.max_depth:
            message = f"the expression nests too deeply (more than {limits.max_depth} levels)"
            raise self.refuse(node.span, message)

    def number(self, node: IntegerLiteral | DecimalLiteral) -> IntegerLiteral | DecimalLiteral:
        if not math.isfinite(node.value) or abs(node.value) > self.limits.max_number:
            raise self.refuse(
                node.span, f"the number is too large (limit {self.limits.max_number:.0e})"
            )
        return node

    def make(self, rule: str, parts: list[object], span: Span) -> object:
        if rule in ("arguments", "options"):
            return tuple(self.as_node(part) for part in parts)
        if rule in _LITERAL_RULES:
            return self.literal(rule, parts, span)
        if rule == "reference":
            return self.reference([str(part) for part in parts], span)
        if rule == "call":
            name = str(parts[0])
            arguments = parts[1] if len(parts) > 1 else ()
            assert isinstance(arguments, tuple)
            if name == "date":
                return self.date(arguments, span)
            return Call(name, arguments, span=span)
        if rule in ("in_", "not_in"):
            operand, options = parts
            assert isinstance(operand, Node)
            assert isinstance(options, tuple)
            return InList(operand, self.options(options), rule == "not_in", span=span)
        return self.operator(rule, [self.as_node(part) for part in parts], span)

    def literal(self, rule: str, parts: list[object], span: Span) -> Literal | MissingLiteral:
        if rule == "integer":
            token = str(parts[0])
            if len(token) > 18:
                raise self.refuse(span, "the number is too large")
            return self.number(IntegerLiteral(int(token), span=span))
        if rule == "decimal":
            if len(str(parts[0])) > 40:
                raise self.refuse(span, "the number is too long")
            return self.number(DecimalLiteral(float(str(parts[0])), span=span))
        if rule == "text":
            value = _unescape(str(parts[0]))
            if len(value) > self.limits.max_string_length:
                raise self.refuse(
                    span,
                    f"the text is too long (more than {self.limits.max_string_length} characters)",
                )
            return TextLiteral(value, span=span)
        if rule in ("true", "false"):
            return BooleanLiteral(rule == "true", span=span)
        return MissingLiteral(span=span)

    def reference(self, names: list[str], span: Span) -> Reference:
        for name in names:
            if name in KEYWORDS:
                raise self.refuse(span, f"{name!r} is a keyword and cannot name an item")
        event = names[0] if len(names) > 1 else None
        form = names[1] if len(names) > 2 else None
        return Reference(names[-1], event, form, span=span)

    def operator(self, rule: str, operands: list[Node], span: Span) -> Node:
        if rule == "negate":
            (operand,) = operands
            if (
                isinstance(operand, IntegerLiteral | DecimalLiteral)
                and math.copysign(1, operand.value) > 0
            ):
                # "-5" is the number minus five, so lists and printing treat it as one literal.
                if isinstance(operand, IntegerLiteral):
                    return self.number(IntegerLiteral(-operand.value, span=span))
                return self.number(DecimalLiteral(-operand.value, span=span))
            return Negate(operand, span=span)
        if rule == "not_":
            return Not(operands[0], span=span)
        if rule in _COMPARISON_RULES:
            left, right = operands
            return Binary(_COMPARISON_RULES[rule], left, right, span=span)
        raise AssertionError(f"grammar rule without a builder: {rule}")

    def as_node(self, part: object) -> Node:
        assert isinstance(part, Node)
        return part

    def options(self, options: tuple[object, ...]) -> tuple[Literal, ...]:
        if len(options) > self.limits.max_list_items:
            first = options[0]
            assert isinstance(first, Node)
            raise self.refuse(
                first.span, f"the list has more than {self.limits.max_list_items} values"
            )
        checked: list[Literal] = []
        for option in options:
            assert isinstance(option, Node)
            if not isinstance(
                option, IntegerLiteral | DecimalLiteral | TextLiteral | BooleanLiteral | DateLiteral
            ):
                raise self.refuse(
                    option.span, "a list after 'in' holds constants only (numbers, texts, dates)"
                )
            checked.append(option)
        return tuple(checked)

    def date(self, arguments: tuple[object, ...], span: Span) -> DateLiteral:
        if len(arguments) != 1 or not isinstance(arguments[0], TextLiteral):
            raise self.refuse(span, 'a date is written date("YYYY-MM-DD")')
        written = arguments[0].value
        try:
            if len(written) != 10:
                raise ValueError(written)
            value = date.fromisoformat(written)
        except ValueError:
            raise self.refuse(
                arguments[0].span, f"{written!r} is not a date written YYYY-MM-DD"
            ) from None
        return DateLiteral(value, span=span)


def parse(text: str, *, limits: Limits = DEFAULT_LIMITS) -> Expression:
    """Return the parsed expression, or raise ExpressionSyntaxError saying where and why not.

    A study's rules are few and read again and again (each inclusion evaluates every
    eligibility criterion): the trees, immutable, are kept by text, not parsed each time."""
    return _parse(text, limits)


@lru_cache(maxsize=4096)
def _parse(text: str, limits: Limits) -> Expression:
    if len(text) > limits.max_length:
        raise _refuse(
            text, limits.max_length, f"the expression is longer than {limits.max_length} characters"
        )
    if not text.strip():
        raise _refuse(text, 0, "the expression is empty")
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as error:
        raise _syntax_error(text, error) from None
    return Expression(text, _Builder(text, limits).build(tree))
