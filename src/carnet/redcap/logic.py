"""Carnet expressions written back as REDCap logic (the data dictionary export).

The other direction, REDCap to Carnet, is the expression language's own translator
(`carnet.expressions.translate_redcap`). This one is a token rewrite: it keeps the
expression's structure and only changes how names and a few operators are spelled, which is
enough for branching and most calculations; docs/redcap.md lists what REDCap reads otherwise.
"""

from __future__ import annotations

import re

_TOKEN = re.compile(
    r"""(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*){0,2})
      | (?P<operator>!=)
      | (?P<other>.)""",
    re.VERBOSE | re.DOTALL,
)
_WORDS = {"and", "or", "not", "in", "true", "false", "missing"}
_WORD_SPELLING = {"true": "true", "false": "false", "missing": "''"}


def carnet_to_redcap(expression: str) -> str:
    """Return a Carnet expression spelled as REDCap logic."""
    out: list[str] = []
    for match in _TOKEN.finditer(expression):
        kind, text = match.lastgroup, match.group()
        if kind == "operator":
            out.append("<>")
        elif kind == "name":
            following = expression[match.end() :].lstrip()[:1]
            if text in _WORDS:
                out.append(_WORD_SPELLING.get(text, text))
            elif following == "(":
                out.append(text)  # a function
            else:
                out.append(_reference(text))
        else:
            out.append(text)
    return "".join(out)


def _reference(name: str) -> str:
    parts = name.split(".")
    if len(parts) == 1:
        return f"[{parts[0]}]"
    # event.item or event.form.item: REDCap qualifies by event only.
    return f"[{parts[0]}_arm_1][{parts[-1]}]"
