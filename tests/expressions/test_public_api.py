"""The public surface of carnet.expressions, and its promise to stay free of Django."""

import ast
import subprocess
import sys
from pathlib import Path

import carnet.expressions

PUBLIC = {
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
}


def test_the_package_exports_exactly_its_public_names():
    assert set(carnet.expressions.__all__) == PUBLIC
    assert all(hasattr(carnet.expressions, name) for name in PUBLIC)


def test_importing_the_language_does_not_import_django():
    program = "import sys, carnet.expressions; print('django' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_no_module_of_the_language_evaluates_python_text():
    # Built-in eval/exec/compile would turn a rule into code; the language never does that.
    for path in Path(carnet.expressions.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        called = {
            node.func.id
            for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        }
        assert not called & {"eval", "exec", "compile", "__import__"}, path


def test_references_list_what_a_calculation_depends_on():
    from carnet.expressions import parse, references

    found = references(parse("weight / (height * height) + baseline.weight - weight"))
    assert [reference.key for reference in found] == ["weight", "height", "baseline.weight"]
