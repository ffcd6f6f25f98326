"""The Carnet expression language: branching, calculations, edit checks, eligibility, filters.

Pure Python (no Django). The usual path::

    symbols = SymbolTable([Symbol.for_item("weight", "decimal"), ...])
    checked = check(parse("weight > 40 and baseline.weight > 0"), symbols,
                    expected=ValueType.BOOLEAN)
    evaluate(checked, {"weight": 72.5, "baseline.weight": 70.0})   # one subject -> True
    evaluate_frame(checked, frame)                 # a whole study at once (a Polars Series)
    frame.lazy().filter(to_polars(checked))        # or as a Polars expression
    translate_redcap("[baseline_arm_1][weight] > 40 and [sex] = '1'")

docs/expressions.md describes the language.
"""

from typing import TYPE_CHECKING, Any

from carnet.expressions.checking import CheckedExpression, check
from carnet.expressions.errors import (
    EvaluationError,
    ExpressionCheckError,
    ExpressionError,
    ExpressionSyntaxError,
    Position,
    Problem,
    RedcapTranslationError,
)
from carnet.expressions.limits import DEFAULT_LIMITS, Limits
from carnet.expressions.parsing import Expression, parse
from carnet.expressions.redcap import translate_redcap
from carnet.expressions.row_evaluator import Clock, Value, evaluate
from carnet.expressions.symbols import Symbol, SymbolTable, ValueType
from carnet.expressions.syntax import Node, Reference, unparse
from carnet.expressions.syntax import references as _references

if TYPE_CHECKING:
    from carnet.expressions.polars_compiler import evaluate_frame, to_polars


def __getattr__(name: str) -> Any:
    """Import the column evaluator (and Polars) only when asked for.

    Every `carnet` command and worker process imports the expression language; Polars costs
    a good half second of each one's start, and only analyses and bulk checks need it."""
    if name in {"evaluate_frame", "to_polars"}:
        from carnet.expressions import polars_compiler

        return getattr(polars_compiler, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def references(expression: Expression | CheckedExpression) -> list[Reference]:
    """Return the items an expression reads, each once, in written order.

    A reference's ``key`` (``baseline.weight``) is the key of its value for ``evaluate`` and
    its column name for ``to_polars``; ``name`` is the item, for dependency order.
    """
    return _references(expression.root)


__all__ = [
    "DEFAULT_LIMITS",
    "CheckedExpression",
    "Clock",
    "EvaluationError",
    "Expression",
    "ExpressionCheckError",
    "ExpressionError",
    "ExpressionSyntaxError",
    "Limits",
    "Node",
    "Position",
    "Problem",
    "RedcapTranslationError",
    "Reference",
    "Symbol",
    "SymbolTable",
    "Value",
    "ValueType",
    "check",
    "evaluate",
    "evaluate_frame",
    "parse",
    "references",
    "to_polars",
    "translate_redcap",
    "unparse",
]
