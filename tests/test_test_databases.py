"""The test databases are dropped at the end of a run, whatever sessions the tests left on them."""

from __future__ import annotations

import psycopg
import pytest
from django.db import connection

from carnet.db.arrow import postgresql_conninfo
from tests.conftest import database_vendor, other_sessions_end

pytestmark = pytest.mark.django_db


def test_a_session_left_on_the_test_database_is_ended() -> None:
    """As a live server's request thread leaves one while its client keeps the HTTP connection
    alive: PostgreSQL would refuse to drop the database."""
    if database_vendor() != "postgresql":
        pytest.skip("PostgreSQL only: a SQLite file is removed whatever holds it open.")
    left = psycopg.connect(postgresql_conninfo(connection.settings_dict))
    left.execute("SELECT 1")

    assert other_sessions_end() >= 1

    with pytest.raises(psycopg.OperationalError):
        left.execute("SELECT 1")
    assert other_sessions_end() == 0
