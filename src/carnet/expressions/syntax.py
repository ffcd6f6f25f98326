"""The expression tree and its canonical text.

Nodes are frozen dataclasses compared by content only (never by position), so that printing a
tree and parsing the text back gives an equal tree. ``unparse`` writes the fewest parentheses
that keep the meaning.
"""

from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True, slots=True)
class Span:
    """The characters ``start`` to ``end`` (exclusive) of the expression text a node came from."""

    start: int
    end: int


NO_SPAN = Span(0, 0)


@dataclass(frozen=True, slots=True)
class Node:
    """Base class of every node; ``span`` locates it and takes no part in equality."""

    span: Span = field(default=NO_SPAN, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class IntegerLiteral(Node):
    """A whole number, such as ``18``."""

    value: int


@dataclass(frozen=True, slots=True)
class DecimalLiteral(Node):
    """A number with a fraction, such as ``1.5`` (held as a float)."""

    value: float


@dataclass(frozen=True, slots=True)
class TextLiteral(Node):
    """A quoted text, such as ``"M"``."""

    value: str


@dataclass(frozen=True, slots=True)
class BooleanLiteral(Node):
    """``true`` or ``false``."""

    value: bool


@dataclass(frozen=True, slots=True)
class DateLiteral(Node):
    """A calendar date, written ``date("2024-01-31")``."""

    value: date


@dataclass(frozen=True, slots=True)
class MissingLiteral(Node):
    """``missing``: the value nobody entered (also what ND/NA/UNK codes look like)."""


Literal = IntegerLiteral | DecimalLiteral | TextLiteral | BooleanLiteral | DateLiteral


@dataclass(frozen=True, slots=True)
class Reference(Node):
    """An item named by variable name, optionally qualified: ``event.name`` or ``event.form.name``.

    Without an event it means the value at the event being evaluated (the current visit).
    """

    name: str
    event: str | None = None
    form: str | None = None

    @property
    def key(self) -> str:
        """Return the reference as written (``baseline.weight``): the row key and column name."""
        return ".".join(part for part in (self.event, self.form, self.name) if part is not None)


@dataclass(frozen=True, slots=True)
class Negate(Node):
    """Arithmetic minus of one operand: ``-x``."""

    operand: Node


@dataclass(frozen=True, slots=True)
class Not(Node):
    """Logical negation: ``not x``."""

    operand: Node


ARITHMETIC = ("+", "-", "*", "/")
COMPARISONS = ("=", "!=", "<", "<=", ">", ">=")
CONNECTIVES = ("and", "or")


@dataclass(frozen=True, slots=True)
class Binary(Node):
    """Two operands joined by an arithmetic, comparison or logical ``operator``."""

    operator: str
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class InList(Node):
    """``operand in (a, b, …)``, or ``not in`` when ``negated``; the options are constants."""

    operand: Node
    options: tuple[Literal, ...]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Call(Node):
    """A function applied to arguments: ``coalesce(x, 0)``, ``sum(lesion_diameter)``."""

    function: str
    arguments: tuple[Node, ...]


def children(node: Node) -> tuple[Node, ...]:
    """Return the direct sub-expressions of ``node``, left to right."""
    if isinstance(node, Negate | Not):
        return (node.operand,)
    if isinstance(node, Binary):
        return (node.left, node.right)
    if isinstance(node, InList):
        return (node.operand, *node.options)
    if isinstance(node, Call):
        return node.arguments
    return ()


def walk(node: Node) -> list[Node]:
    """Return ``node`` and all its descendants in text order (pre-order)."""
    found: list[Node] = []
    pending = [node]
    while pending:
        current = pending.pop()
        found.append(current)
        pending.extend(reversed(children(current)))
    return found


# Binding strength, loosest first; the grammar has one rule per level.
_OR, _AND, _NOT, _COMPARISON, _SUM, _PRODUCT, _UNARY, _ATOM = range(1, 9)
_LEVEL = {"or": _OR, "and": _AND, **dict.fromkeys(COMPARISONS, _COMPARISON)}
_LEVEL |= {"+": _SUM, "-": _SUM, "*": _PRODUCT, "/": _PRODUCT}


def _level(node: Node) -> int:
    if isinstance(node, Binary):
        return _LEVEL[node.operator]
    if isinstance(node, InList):
        return _COMPARISON
    if isinstance(node, Not):
        return _NOT
    if isinstance(node, Negate):
        return _UNARY
    if isinstance(node, IntegerLiteral | DecimalLiteral) and node.value < 0:
        return _UNARY
    return _ATOM


def _wrapped(node: Node, at_least: int) -> str:
    text = unparse(node)
    return text if _level(node) >= at_least else f"({text})"


def _literal_text(node: Node) -> str:
    if isinstance(node, BooleanLiteral):
        return "true" if node.value else "false"
    if isinstance(node, IntegerLiteral):
        return str(node.value)
    if isinstance(node, DecimalLiteral):
        # repr is the shortest text that reads back as the same float.
        return repr(node.value)
    if isinstance(node, TextLiteral):
        return '"' + node.value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(node, DateLiteral):
        return f'date("{node.value.isoformat()}")'
    if isinstance(node, MissingLiteral):
        return "missing"
    raise TypeError(f"not a literal: {node!r}")


def unparse(node: Node) -> str:
    """Return the canonical text of ``node``; parsing it gives back an equal tree."""
    if isinstance(node, Reference):
        return node.key
    if isinstance(node, Negate):
        return "-" + _wrapped(node.operand, _UNARY)
    if isinstance(node, Not):
        return "not " + _wrapped(node.operand, _NOT)
    if isinstance(node, Binary):
        level = _LEVEL[node.operator]
        # Left-associative operators may repeat on the left; comparisons do not chain at all.
        left_level = level + 1 if level == _COMPARISON else level
        return (
            f"{_wrapped(node.left, left_level)} {node.operator} {_wrapped(node.right, level + 1)}"
        )
    if isinstance(node, InList):
        keyword = "not in" if node.negated else "in"
        options = ", ".join(_literal_text(option) for option in node.options)
        return f"{_wrapped(node.operand, _SUM)} {keyword} ({options})"
    if isinstance(node, Call):
        return f"{node.function}({', '.join(unparse(argument) for argument in node.arguments)})"
    return _literal_text(node)


def references(node: Node) -> list[Reference]:
    """Return the item references under ``node``, each once, in the order they are written."""
    seen: dict[Reference, None] = {}
    for found in walk(node):
        if isinstance(found, Reference):
            seen.setdefault(found, None)
    return list(seen)
