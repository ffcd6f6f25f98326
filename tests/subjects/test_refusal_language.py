"""Every refusal the services of subjects and the save pipeline raise speaks the person's
language: its words go through gettext; only the field it names stays outside ("on: …"), as
pages and API clients read it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import carnet

PACKAGE = Path(carnet.__file__).resolve().parent
# Where refusals that reach people are raised (pages, API, imports, the command line).
MODULES = [
    *sorted((PACKAGE / "subjects").glob("*.py")),
    *(PACKAGE / "capture" / name for name in ("services.py", "values.py", "news.py", "rules.py")),
    *(PACKAGE / "studies" / name for name in ("services.py", "selectors.py")),
    # The administration and account pages show these.
    *(PACKAGE / "accounts" / name for name in ("services.py", "sign_in.py")),
]
REFUSALS = {"ValidationError", "ValueRefused", "PermissionDenied", "_refusal", "FormRefused"}
GETTEXT = {"_", "gettext", "pgettext", "ngettext", "gettext_lazy", "npgettext"}
# What may stay outside the translation: a field's name before its refusal, punctuation.
UNTRANSLATED = re.compile(r"^\s*[\w.\[\]]*\s*:?\s*\.?\s*$")


def _untranslated(text: str) -> bool:
    """Return whether a text may stay as it is: no words, or a field's name before a colon."""
    return not re.search(r"[A-Za-z]", text) or UNTRANSLATED.match(text) is not None


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _english_in(node: ast.AST) -> list[str]:
    """Return the literal words of a refusal's text that no gettext call wraps."""
    if isinstance(node, ast.Call) and _name(node.func) in GETTEXT:
        return []
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [] if _untranslated(node.value) else [node.value]
    if isinstance(node, ast.JoinedStr):
        return [
            part.value
            for part in node.values
            if isinstance(part, ast.Constant) and not _untranslated(str(part.value))
        ]
    found: list[str] = []
    for child in ast.iter_child_nodes(node):
        found += _english_in(child)
    return found


def untranslated_refusals(source: str, name: str) -> list[str]:
    """Return each refusal of a module's source whose words are left in English."""
    tree = ast.parse(source)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _name(node.func) in REFUSALS:
            arguments = node.args[1:] if _name(node.func) == "_refusal" else node.args
            for argument in arguments:
                found += [f"{name}:{node.lineno}: {text!r}" for text in _english_in(argument)]
    return found


def test_every_refusal_of_subjects_studies_accounts_and_the_save_pipeline_is_translatable() -> None:
    found = [
        refusal
        for path in MODULES
        for refusal in untranslated_refusals(
            path.read_text(encoding="utf-8"), str(path.relative_to(PACKAGE))
        )
    ]
    assert found == []


def test_the_scan_finds_a_refusal_left_in_english() -> None:
    text = (
        "def f(months, refusal):\n"
        "    raise ValidationError(f'months: {months} is not a number of months.')\n"
        "def g(refusal):\n"
        "    raise ValidationError(f'on: {refusal}.')\n"
        "def h(why):\n"
        "    raise _refusal('kind', _('say why %(x)s.') % {'x': why})\n"
    )
    assert untranslated_refusals(text, "probe.py") == ["probe.py:2: ' is not a number of months.'"]
