"""Addresses are built from their URL names (``reverse()``, ``{% url %}``), never written out: a
page moved in a urls.py then moves every link, redirect and message that leads to it.

The scan reads Carnet's Python and templates (not api.py files, migrations or static files) and
names each internal path it finds written out, as file:line.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from django.urls import Resolver404, resolve

import carnet

SOURCE = Path(carnet.__file__).resolve().parent
SKIPPED_FOLDERS = {"migrations", "static", "locale", "__pycache__"}

# Paths that stay written out, each with its reason; keyed by (file under src/carnet, text).
# An entry that no longer matches anything fails the test: the list only holds what is there.
ALLOWED: dict[tuple[str, str], str] = {
    # The API's mount point, set in config/urls.py: ninja names none of its addresses "root".
    ("web/middleware.py", "/api/"): "API prefix",
    # Django renders 500.html without the request when anything may have failed, the URL
    # resolver included: the page must not depend on it.
    ("web/templates/500.html", "/"): "error page of last resort",
}

# A path segment glued after a variable: `base + "identity/"`, f"{base}forms/…", "{{ url }}x/".
SUFFIX = re.compile(r"^[a-z][a-z0-9_-]*/")
ATTRIBUTE = re.compile(
    r"\b(?:href|action|src|value|hx-(?:get|post|put|patch|delete)|data-[\w-]+)=\"([^\"]*)\""
)
TEMPLATE_CODE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}")


def _internal(text: str) -> bool:
    """Return whether ``text`` (placeholders filled in) is the path of one of Carnet's pages
    below the home page (a lone "/" in Python is a separator far more often than an address)."""
    if not text.startswith("/") or text.startswith("//") or text == "/":
        return False
    try:
        resolve(text.split("?")[0].split("#")[0])
    except Resolver404:
        return False
    return True


def _joined(node: ast.JoinedStr) -> str:
    return "".join(
        part.value if isinstance(part, ast.Constant) and isinstance(part.value, str) else "x1"
        for part in node.values
    )


def _called(function: ast.expr) -> str:
    if isinstance(function, ast.Attribute):
        return function.attr
    return function.id if isinstance(function, ast.Name) else ""


def python_paths(code: str) -> Iterator[tuple[int, str]]:
    """Yield (line, text) for each internal path a Python module writes out or glues together."""
    tree = ast.parse(code)
    inside_fstring = {
        id(part)
        for node in ast.walk(tree)
        if isinstance(node, ast.JoinedStr)
        for part in node.values
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = _joined(node)
            if _internal(text):
                yield node.lineno, text
            after_variable = [
                part.value
                for previous, part in zip(node.values, node.values[1:], strict=False)
                if isinstance(previous, ast.FormattedValue)
                and isinstance(part, ast.Constant)
                and isinstance(part.value, str)
            ]
            if " " not in text and any(SUFFIX.match(piece) for piece in after_variable):
                yield node.lineno, text
        elif (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in inside_fstring
            and _internal(node.value)
        ):
            yield node.lineno, node.value
        elif (
            isinstance(node, ast.Call)
            and _called(node.func).lower().endswith("redirect")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and node.args[0].value == "/"
        ):
            yield node.lineno, "/"
        elif (
            isinstance(node, ast.BinOp)
            and isinstance(node.op, ast.Add)
            and isinstance(node.right, ast.Constant)
            and isinstance(node.right.value, str)
            and SUFFIX.match(node.right.value)
        ):
            yield node.lineno, "… + " + repr(node.right.value)


def template_paths(text: str) -> Iterator[tuple[int, str]]:
    """Yield (line, value) for each attribute of a template holding an internal path written
    out, or a path segment glued after a variable (``{{ base }}casebook/``)."""
    for number, line in enumerate(text.splitlines(), start=1):
        for match in ATTRIBUTE.finditer(line):
            value = match.group(1)
            glued = [piece for piece in value.split("}}")[1:] if SUFFIX.match(piece)]
            if value == "/" or _internal(TEMPLATE_CODE.sub("x1", value)) or glued:
                yield number, value


def _sources() -> Iterator[Path]:
    for path in sorted(SOURCE.rglob("*")):
        if SKIPPED_FOLDERS & set(path.relative_to(SOURCE).parts):
            continue
        # urls.py files are where the paths are written, once, under their names.
        python = path.suffix == ".py" and path.name not in {"api.py", "urls.py"}
        if python or (path.suffix == ".html" and "templates" in path.parts):
            yield path


def written_out_paths() -> list[tuple[str, int, str]]:
    found = []
    for path in _sources():
        name = path.relative_to(SOURCE).as_posix()
        text = path.read_text(encoding="utf-8")
        lines = python_paths(text) if path.suffix == ".py" else template_paths(text)
        found += [(name, line, value) for line, value in lines]
    return found


def test_no_address_of_a_page_is_written_out() -> None:
    found = written_out_paths()
    left = [
        f"{name}:{line}: {value}" for name, line, value in found if (name, value) not in ALLOWED
    ]
    assert left == [], "Build these with reverse() or {% url %}:\n" + "\n".join(left)


def test_every_allowed_path_is_still_there() -> None:
    found = {(name, value) for name, _line, value in written_out_paths()}
    assert [entry for entry in ALLOWED if entry not in found] == []


def test_the_scan_finds_each_way_of_writing_an_address_out() -> None:
    planted = (
        "def view(identifier, subject):\n"
        '    a = "/account/"\n'
        '    b = f"/studies/{identifier}/"\n'
        '    c = subject_url(subject) + "identity/"\n'
        '    d = f"{base}forms/{event}/1/{form}/"\n'
        '    e = "/static/web/carnet.css"\n'
        '    f = "Reason: /not/a/page"\n'
        '    return HttpResponseRedirect("/")\n'
    )
    assert [line for line, _text in python_paths(planted)] == [2, 3, 4, 5, 8]
    page = (
        '<a href="/studies/{{ study.identifier }}/subjects/">x</a>\n'
        '<form action="{{ base }}consents/">\n'
        "<a href=\"{% url 'web:home' %}\">x</a>\n"
        '<a href="https://example.org/account/">x</a>\n'
        '<input type="hidden" name="next" value="/account/">\n'
        '<a href="/">Carnet</a>\n'
    )
    assert [line for line, _value in template_paths(page)] == [1, 2, 5, 6]


# --- reads go through selectors -------------------------------------------------------------

# Query methods that, called on a model's manager, a related manager or a query set, read the
# database. (`get` and `values` are left out: `request.GET.get` and a dict's values are no reads.)
QUERY_METHODS = {
    "filter",
    "exclude",
    "order_by",
    "first",
    "last",
    "exists",
    "count",
    "all",
    "select_related",
    "prefetch_related",
    "values_list",
    "aggregate",
    "annotate",
}

# ORM reads still in a view, each with its reason; keyed by (file under src/carnet, read).
# This list may only shrink: an entry that matches nothing any more fails the test.
ORM_READS_ALLOWED: dict[tuple[str, str], str] = {}


def _view_modules() -> Iterator[Path]:
    for path in sorted(SOURCE.rglob("*.py")):
        parts = path.relative_to(SOURCE).parts
        if path.name == "views.py" or "views" in parts[:-1] or "templatetags" in parts:
            yield path


def orm_reads(code: str) -> Iterator[tuple[int, str]]:
    """Yield (line, read) for each read of the database a view module makes itself: a model's
    ``objects``, or a query method on a related manager or on a query set a call returned."""
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Attribute) and node.attr == "objects":
            yield node.lineno, ast.unparse(node)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in QUERY_METHODS
            and isinstance(node.func.value, ast.Attribute | ast.Call)
            and not (
                isinstance(node.func.value, ast.Attribute) and node.func.value.attr == "objects"
            )
        ):
            yield node.lineno, ast.unparse(node.func)


def view_orm_reads() -> list[tuple[str, int, str]]:
    found = []
    for path in _view_modules():
        name = path.relative_to(SOURCE).as_posix()
        found += [(name, line, read) for line, read in orm_reads(path.read_text("utf-8"))]
    return found


def test_views_read_the_database_only_through_selectors() -> None:
    left = [
        f"{name}:{line}: {read}"
        for name, line, read in view_orm_reads()
        if (name, read) not in ORM_READS_ALLOWED
    ]
    assert left == [], "Move these reads to the app's selectors.py:\n" + "\n".join(left)


def test_every_allowed_orm_read_is_still_there() -> None:
    found = {(name, read) for name, _line, read in view_orm_reads()}
    assert [entry for entry in ORM_READS_ALLOWED if entry not in found] == []


def test_the_read_scan_finds_managers_related_managers_and_query_sets() -> None:
    planted = (
        "def view(request, study, user):\n"
        "    a = ApiToken.objects.filter(user=user)\n"
        '    b = study.versions.order_by("-number")\n'
        '    c = studies_visible(user).filter(identifier="X").first()\n'
        '    d = request.GET.get("sort", "")\n'
        '    e = request.POST.getlist("site")\n'
        "    f = rows.count(1)\n"
    )
    assert sorted(line for line, _read in orm_reads(planted)) == [2, 3, 4, 4]


def test_capture_updates_a_subject_only_through_a_subjects_service() -> None:
    writes = [
        f"{path.name}:{number}"
        for path in sorted((SOURCE / "capture").rglob("*.py"))
        for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1)
        if re.search(r"\bSubject\.objects\b", line)
    ]
    assert writes == []
