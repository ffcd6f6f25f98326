"""Reading a form page writes nothing: no statement but SELECTs, so no transaction either (on
SQLite every transaction begins IMMEDIATE, which takes the database's one write lock and would
make a person reading a form wait behind, and hold up, everyone saving)."""

from __future__ import annotations

from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from carnet.capture import services
from carnet.capture.services import form_save
from tests.capture.conftest import Capture
from tests.capture.test_pages import VITALS, client_of

pytestmark = pytest.mark.django_db


def _statements_other_than_select(client: object, path: str) -> list[str]:
    with CaptureQueriesContext(connection) as executed:
        response = client.get(path)  # type: ignore[attr-defined]
    assert response.status_code == 200
    return [
        query["sql"][:120]
        for query in executed.captured_queries
        if not query["sql"].lstrip().upper().startswith("SELECT")
    ]


def test_a_form_page_get_runs_its_dry_run_and_writes_nothing(capture: Capture) -> None:
    form_save(
        actor=capture.entry,
        subject=capture.subject,
        event="baseline",
        form="vitals",
        base_version=0,
        values={"weight": 70, "height": 175, "smoker": 0},
    )
    client = client_of(capture.entry)
    client.get(VITALS)  # a session's first page records the session and its study
    with mock.patch.object(services, "form_save", wraps=services.form_save) as save:
        writes = _statements_other_than_select(client, VITALS)
    # The page asked the save pipeline which items branching hides (pack-years, not a smoker)...
    assert save.call_args.kwargs["dry_run"] is True
    # ...and neither that dry run nor anything else of the request wrote or began a transaction.
    assert writes == [], "\n".join(writes)


def test_reading_pages_one_after_another_writes_nothing(capture: Capture) -> None:
    """The session's activity is recorded at most once a minute, not on every page."""
    client = client_of(capture.entry)
    client.get(VITALS)
    casebook = "/studies/MINI/subjects/01-001/casebook/"
    assert _statements_other_than_select(client, casebook) == []
    assert _statements_other_than_select(client, VITALS) == []
