"""Every example in carnet.analysis's docstrings runs and prints what it says."""

import doctest
import importlib
import pkgutil

import pytest

import carnet.analysis

MODULES = sorted(
    name for _, name, _ in pkgutil.iter_modules(carnet.analysis.__path__, "carnet.analysis.")
)


@pytest.mark.parametrize("name", MODULES)
def test_the_docstring_examples_of_each_module_hold(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, raise_on_error=False)
    assert result.failed == 0


def test_every_public_module_has_examples() -> None:
    finder = doctest.DocTestFinder()
    for name in ("designs", "survival", "endpoints", "recist", "tables", "settings"):
        module = importlib.import_module(f"carnet.analysis.{name}")
        assert any(test.examples for test in finder.find(module)), name


def test_the_core_imports_no_django() -> None:
    import subprocess
    import sys

    code = "import sys, carnet.analysis; print(any(m.startswith('django') for m in sys.modules))"
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert output.stdout.strip() == "False"
