"""Extract, update and compile Carnet's message catalogs without GNU gettext.

Django's `makemessages` needs xgettext; hospitals' and developers' machines often lack it. This
script reads templates through Django's own `templatize` and Python files through Babel, merges
the messages into each language's `.po`, and compiles the `.mo` files Django loads.

    .venv/bin/python scripts/messages.py            # extract, update, compile
    .venv/bin/python scripts/messages.py --check    # exit 1 if a catalog is stale or incomplete
"""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog
from babel.messages.extract import extract as babel_extract
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "src" / "carnet"
LOCALE = PACKAGE / "locale"
LANGUAGES = ["fr"]
KEYWORDS: dict[str, Any] = {
    "_": None,
    "gettext": None,
    "gettext_lazy": None,
    "gettext_noop": None,
    "pgettext": ((1, "c"), 2),
    "pgettext_lazy": ((1, "c"), 2),
    "ngettext": (1, 2),
    "ngettext_lazy": (1, 2),
    "npgettext": ((1, "c"), 2, 3),
}


def _setup_django() -> None:
    import os

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "carnet.config.settings.test")
    django.setup()


def _sources() -> Iterator[tuple[Path, str]]:
    from django.utils.translation.template import templatize

    for path in sorted(PACKAGE.rglob("*")):
        if "migrations" in path.parts or "locale" in path.parts:
            continue
        if path.suffix == ".py":
            yield path, path.read_text(encoding="utf-8")
        elif path.suffix in {".html", ".txt"} and "templates" in path.parts:
            code = templatize(path.read_text(encoding="utf-8"), origin=str(path))
            # Babel tokenizes this as Python; the template's own indentation would confuse it.
            yield path, "\n".join(line.lstrip() for line in code.splitlines())


def extract() -> Catalog:
    """Return a catalog of every translatable message in the package's code and templates."""
    _setup_django()
    catalog = Catalog(project="Carnet", fuzzy=False)
    for path, source in _sources():
        relative = path.relative_to(ROOT)
        # Babel's extract() applies the keyword specifications: plurals and contexts come out
        # as (singular, plural) and a separate context.
        for line, message, comments, context in babel_extract(
            "python", io.BytesIO(source.encode("utf-8")), keywords=KEYWORDS, comment_tags=()
        ):
            catalog.add(
                message, locations=[(str(relative), line)], auto_comments=comments, context=context
            )
    return catalog


def po_path(language: str) -> Path:
    return LOCALE / language / "LC_MESSAGES" / "django.po"


def read_catalog(language: str) -> Catalog:
    path = po_path(language)
    if not path.exists():
        return Catalog(locale=language, project="Carnet")
    with path.open("rb") as handle:
        return read_po(handle, locale=language)


def compiled(catalog: Catalog) -> bytes:
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    return buffer.getvalue()


def problems(language: str, template: Catalog) -> list[str]:
    """Return what is stale or missing in one language's catalog."""
    catalog = read_catalog(language)
    found = []
    for message in template:
        if not message.id:
            continue
        translated = catalog.get(message.id, context=message.context)
        if translated is None:
            found.append(f"{language}: {message.id!r} is not in {po_path(language).name}")
        elif not translated.string or (
            isinstance(translated.string, tuple) and not all(translated.string)
        ):
            found.append(f"{language}: {message.id!r} has no translation")
        elif translated.fuzzy:
            found.append(f"{language}: {message.id!r} is marked fuzzy")
    mo = po_path(language).with_suffix(".mo")
    if not mo.exists() or mo.read_bytes() != compiled(catalog):
        found.append(f"{language}: {mo.name} is not compiled from the current {mo.stem}.po")
    return found


def update(template: Catalog) -> None:
    for language in LANGUAGES:
        catalog = read_catalog(language)
        catalog.update(template, no_fuzzy_matching=True)
        path = po_path(language)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:
            write_po(handle, catalog, width=100, omit_header=False, sort_output=True)
        path.with_suffix(".mo").write_bytes(compiled(read_catalog(language)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="Report problems, change nothing.")
    options = parser.parse_args()
    template = extract()
    if options.check:
        found = [problem for language in LANGUAGES for problem in problems(language, template)]
        for problem in found:
            print(problem)
        return 1 if found else 0
    update(template)
    print(f"{len(template)} messages; catalogs updated in {LOCALE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
