"""The parts of Carnet import each other only downwards, as docs/architecture.md draws them.

Every module under src/carnet is parsed (never imported) and each `carnet.<part>` import is
checked against the layer table: a module may import its own part and the parts of lower layers.
An app's HTTP layer (api.py, views.py, urls.py, forms) may also use accounts' permissions and
selectors, to know who asks. `core` imports no Django and no web framework at all.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parent.parent / "src" / "carnet"

# The layers, lowest first (docs/architecture.md). Parts of one layer do not import each other:
# they meet through the seams of a lower part (capture's guards and listeners, subjects' news
# sources). Parts not written yet are placed already, so that their first import is checked.
LAYERS: dict[str, int] = {
    "core": 0,  # Django-free helpers
    "db": 1,  # what the hot paths need of Django's connection layer (bulk INSERT)
    "audit": 2,
    "expressions": 2,
    "analysis": 2,
    "worker": 2,  # the task queue and the periodic jobs' registry
    "runtime_settings": 3,  # settings an administrator changes while Carnet runs (audited)
    "studies": 4,
    "accounts": 5,
    "messaging": 6,  # the outbox: used by subjects (overdue digests) and the capabilities
    "subjects": 7,
    "capture": 8,
    "quality": 9,
    "laboratory": 9,  # normal ranges, unit conversion, CTCAE grades of laboratory values
    "randomization": 9,
    "interop": 9,
    "oversight": 9,  # locks, signatures, the audit trail for inspectors
    "monitoring": 9,  # the monitoring plan, source data verification, monitoring visits
    "biobank": 9,
    # Coding raises coder queries (quality) on the terms it cannot code.
    "coding": 10,  # MedDRA and WHODrug dictionaries and the coding of terms
    "pharmacy": 10,  # assigns kits to the arm randomisation allocated
    "redcap": 10,  # REDCap data dictionaries and the REDCap-compatible API (uses interop)
    # Safety uses randomisation (pharmacovigilance unblinding), signatures and MedDRA codes.
    "safety": 11,
    # Reports read every capability's data: exposure from the pharmacy, AE terms coded, samples.
    "reports": 11,
    # The database lock's checklist reads every capability below it (queries, SDV, signatures,
    # serious adverse events) and its snapshot is a cut-off of interop.
    "database_lock": 12,
    "demo": 12,  # the demo studies' synthetic patients, written through every part below
    "web": 13,
    "config": 14,
    "cli": 15,
    "operations": 15,  # the installation's commands: serve, backup, restore, setting, demo
}
# Module names (a file, or a package's folder) that make up an app's HTTP layer.
HTTP_LAYER = frozenset({"api", "views", "urls", "forms"})
# What an HTTP layer may use of accounts whatever its own layer: who asks, what they may see.
HTTP_ACCESS = frozenset({"carnet.accounts.permissions", "carnet.accounts.selectors"})
# Top-level packages `core` must not import: Django and the web frameworks around it.
WEB_FRAMEWORKS = frozenset(
    {"django", "ninja", "rest_framework", "starlette", "fastapi", "flask", "werkzeug"}
)

# Imports that still break a rule, each with why it is there and what would remove it. The list
# can only shrink: an exception no longer needed fails `test_the_exceptions_are_still_needed`.
# Each entry is (path under src/carnet, imported module), with a comment above it. Empty today:
# the last ones (`carnet study mode` signing through accounts) became studies/signing.py's hook.
ALLOWED_EXCEPTIONS: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True)
class Breach:
    """An import that breaks a rule: where it is, what it imports, and which rule."""

    path: str  # relative to src/carnet
    line: int
    imported: str
    rule: str

    def __str__(self) -> str:
        return f"src/carnet/{self.path}:{self.line}: imports {self.imported} ({self.rule})"


def _part(relative: Path) -> str:
    return relative.parts[0].removesuffix(".py")


def _imports(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """Yield (line, module) for every absolute import, however deep in the module."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            # `from carnet import demo` names the part in the imported name; `__version__` is the
            # package's own attribute, not a part.
            if node.module == "carnet":
                for alias in node.names:
                    if not alias.name.startswith("__"):
                        yield node.lineno, f"carnet.{alias.name}"


def module_breaches(relative: Path, source: str) -> list[Breach]:
    """Return the imports of one module (``relative`` to src/carnet) that break a rule."""
    part = _part(relative)
    if part == "__init__":  # the package's own __init__: nothing to place
        return []
    if part not in LAYERS:
        return [Breach(str(relative), 1, "-", f"the part {part!r} is not in the layer table")]
    http = any(name.removesuffix(".py") in HTTP_LAYER for name in relative.parts[1:])
    breaches = []
    for line, module in _imports(ast.parse(source, filename=str(relative))):
        top = module.split(".")[0]
        if part == "core" and (top in WEB_FRAMEWORKS or top.startswith("django_")):
            breaches.append(Breach(str(relative), line, module, "core imports no Django"))
            continue
        if top != "carnet" or module == "carnet":
            continue
        other = module.split(".")[1]
        if other == part:
            continue
        if other not in LAYERS:
            breaches.append(Breach(str(relative), line, module, f"{other!r} is not a known part"))
        elif LAYERS[other] >= LAYERS[part] and not (http and module in HTTP_ACCESS):
            breaches.append(
                Breach(
                    str(relative),
                    line,
                    module,
                    f"{part} (layer {LAYERS[part]}) may not import {other} (layer {LAYERS[other]})",
                )
            )
    return breaches


def source_breaches(root: Path = SOURCE) -> list[Breach]:
    """Return every breach of the import rules under ``root`` (src/carnet), in file order."""
    breaches = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        breaches += module_breaches(relative, path.read_text(encoding="utf-8"))
    return breaches


def _excepted(breach: Breach) -> bool:
    return (breach.path, breach.imported) in ALLOWED_EXCEPTIONS


def test_every_import_goes_down_the_layers() -> None:
    breaches = [str(b) for b in source_breaches() if not _excepted(b)]
    assert breaches == [], "\n".join(breaches)


def test_the_exceptions_are_still_needed() -> None:
    found = {(b.path, b.imported) for b in source_breaches()}
    stale = sorted(ALLOWED_EXCEPTIONS - found)
    assert stale == [], f"remove these from ALLOWED_EXCEPTIONS, they are fixed: {stale}"


def test_every_part_of_the_source_has_a_layer() -> None:
    parts = {_part(p.relative_to(SOURCE)) for p in SOURCE.rglob("*.py")} - {"__init__"}
    assert parts - set(LAYERS) == set()


# --- the checker catches what it is meant to ---------------------------------------------------


def _plant(root: Path, relative: str, source: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source, encoding="utf-8")


def test_a_planted_import_of_django_in_core_is_reported(tmp_path: Path) -> None:
    _plant(tmp_path, "core/ids.py", '"""Ids."""\n\nfrom uuid import uuid4\nimport django\n')
    _plant(tmp_path, "core/clock.py", "def now():\n    from django.utils import timezone\n")
    assert [str(b) for b in source_breaches(tmp_path)] == [
        "src/carnet/core/clock.py:2: imports django.utils (core imports no Django)",
        "src/carnet/core/ids.py:4: imports django (core imports no Django)",
    ]


def test_a_planted_import_of_a_web_framework_in_core_is_reported(tmp_path: Path) -> None:
    _plant(tmp_path, "core/schemas.py", "from ninja import Schema\nimport django_tasks\n")
    assert [b.line for b in source_breaches(tmp_path)] == [1, 2]


def test_a_planted_import_of_a_higher_part_is_reported(tmp_path: Path) -> None:
    _plant(
        tmp_path, "studies/services.py", "import os\n\nfrom carnet.accounts.models import User\n"
    )
    _plant(tmp_path, "capture/models.py", "from carnet import quality\n")
    assert [str(b) for b in source_breaches(tmp_path)] == [
        "src/carnet/capture/models.py:1: imports carnet.quality "
        "(capture (layer 8) may not import quality (layer 9))",
        "src/carnet/studies/services.py:3: imports carnet.accounts.models "
        "(studies (layer 4) may not import accounts (layer 5))",
    ]


def test_parts_of_one_layer_do_not_import_each_other(tmp_path: Path) -> None:
    _plant(tmp_path, "quality/services.py", "from carnet.randomization.models import Allocation\n")
    [breach] = source_breaches(tmp_path)
    assert breach.rule == "quality (layer 9) may not import randomization (layer 9)"


@pytest.mark.parametrize("module", ["api.py", "views.py", "urls.py", "forms.py", "views/pages.py"])
def test_an_http_layer_may_ask_accounts_who_asks(tmp_path: Path, module: str) -> None:
    _plant(
        tmp_path,
        f"studies/{module}",
        "from carnet.accounts.permissions import PermissionDenied\n"
        "from carnet.accounts.selectors import study_for_request\n"
        "from carnet.accounts.signatures import study_mode_change_signed\n",
    )
    assert [(b.line, b.imported) for b in source_breaches(tmp_path)] == [
        (3, "carnet.accounts.signatures")
    ]


def test_a_domain_module_may_not_use_accounts_permissions_from_below(tmp_path: Path) -> None:
    _plant(tmp_path, "studies/selectors.py", "from carnet.accounts.permissions import require\n")
    assert len(source_breaches(tmp_path)) == 1


def test_lower_parts_and_the_own_part_are_allowed(tmp_path: Path) -> None:
    _plant(
        tmp_path,
        "capture/services.py",
        "from django.db import transaction\n"
        "from carnet.capture.models import FormInstance\n"
        "from carnet.subjects.services import site_today\n"
        "from carnet.core.clock import utc_now\n",
    )
    assert source_breaches(tmp_path) == []


def test_a_part_missing_from_the_table_is_reported(tmp_path: Path) -> None:
    _plant(tmp_path, "billing/models.py", "x = 1\n")
    [breach] = source_breaches(tmp_path)
    assert breach.rule == "the part 'billing' is not in the layer table"
