"""On PostgreSQL the database itself refuses to change or delete audit events."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from carnet.audit.models import GENESIS_HASH
from carnet.audit.services import SystemActor, audit_record
from tests.conftest import postgres_only

pytestmark = [pytest.mark.django_db, postgres_only]


def refused(statement: str, parameters: list[object]) -> str:
    with (
        pytest.raises(DatabaseError) as caught,
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement, parameters)
    return str(caught.value)


def test_updating_an_event_is_refused() -> None:
    event = audit_record(actor=SystemActor(label="pytest"), action="user.created")
    message = refused("UPDATE audit_auditevent SET action = 'x' WHERE id = %s", [event.pk])
    assert "append-only" in message


def test_deleting_an_event_is_refused() -> None:
    event = audit_record(actor=SystemActor(label="pytest"), action="user.created")
    assert "append-only" in refused("DELETE FROM audit_auditevent WHERE id = %s", [event.pk])


def test_a_chain_head_cannot_be_moved_back() -> None:
    audit_record(actor=SystemActor(label="pytest"), action="one")
    audit_record(actor=SystemActor(label="pytest"), action="two")
    message = refused(
        "UPDATE audit_chainhead SET seq = 0, hash = %s WHERE chain = 'system'", [GENESIS_HASH]
    )
    assert "only moves forward" in message


def test_a_chain_head_cannot_be_deleted() -> None:
    audit_record(actor=SystemActor(label="pytest"), action="one")
    assert "cannot be deleted" in refused(
        "DELETE FROM audit_chainhead WHERE chain = %s", ["system"]
    )


@pytest.mark.parametrize(
    "statement",
    [
        "TRUNCATE audit_auditevent",
        "TRUNCATE audit_chainhead",
        "TRUNCATE audit_auditevent, audit_chainhead",
        "TRUNCATE audit_auditevent CASCADE",
    ],
)
def test_the_audit_tables_cannot_be_emptied_by_truncate(statement: str) -> None:
    audit_record(actor=SystemActor(label="pytest"), action="one")
    message = refused(statement, [])
    assert "the audit trail cannot be emptied: TRUNCATE refused on audit_" in message
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM audit_auditevent")
        assert cursor.fetchone() == (1,)
