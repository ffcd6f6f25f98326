"""The test databases can be dropped at the end of a run: no test leaves a session on them."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from django.db import connection

from tests.conftest import database_vendor

pytestmark = [pytest.mark.django_db(transaction=True)]


def sessions_of_others() -> set[int]:
    """Return the client sessions other than this thread's on the test database."""
    with connection.cursor() as cursor:
        # The activity statistics are a snapshot per transaction: taken anew each time.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
        )
        return {pid for (pid,) in cursor.fetchall()}


def test_a_live_server_request_leaves_no_session_while_its_client_keeps_http_alive(
    live_server: Any,
) -> None:
    """A live server's request thread kept its connection (CONN_MAX_AGE) for as long as its
    client kept the HTTP connection alive (PyCap's session, a browser): PostgreSQL then refused
    to drop the test database ("being accessed by other users") and it was left behind."""
    if database_vendor() != "postgresql":
        pytest.skip("PostgreSQL only: a SQLite file is removed whatever holds it open.")
    # Sessions an earlier test of this process may have left are not this test's subject.
    before = sessions_of_others()
    with requests.Session() as client:
        answer = client.get(f"{live_server.url}/healthz", timeout=10)
        assert answer.json()["status"] == "ok"
        # The request thread closes its connection just after it has sent the answer.
        deadline = time.monotonic() + 5
        while sessions_of_others() - before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sessions_of_others() - before == set()
