"""Count how many times study definitions are decoded from the database: a page or a count must
decode each study version once, not once per row it reads (a study's definition is a large JSON
document, milliseconds to decode)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from carnet.studies.models import StudyVersion


@contextmanager
def definition_decodes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Yield a list that receives each study definition decoded while the block runs."""
    field = StudyVersion._meta.get_field("definition")
    decoded: list[Any] = []
    original = type(field).from_db_value

    def counting(self: Any, value: Any, expression: Any, connection: Any) -> Any:
        if self is field:
            decoded.append(value)
        return original(self, value, expression, connection)

    with monkeypatch.context() as patch:
        patch.setattr(type(field), "from_db_value", counting)
        yield decoded
