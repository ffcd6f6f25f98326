"""Whatever is done to the audit table in SQL, `audit_verify` finds it and says where."""

from __future__ import annotations

import pytest
from django.db import connection

from carnet.audit.hashing import digest_of, event_digest
from carnet.audit.models import AuditEvent, ChainHead
from carnet.audit.services import SystemActor, audit_record, study_chain
from carnet.audit.verification import Anchor, audit_verify, chain_heads
from tests.conftest import database_vendor

pytestmark = pytest.mark.django_db

CHAIN = study_chain("PRODIGE-99")


def sql(statement: str, parameters: list[object] | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, parameters or [])


def as_table_owner() -> None:
    """Act as someone who owns the tables (the only one who can bypass the triggers)."""
    if database_vendor() == "postgresql":
        sql("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only")
        sql("ALTER TABLE audit_chainhead DISABLE TRIGGER audit_head_forward_only")


@pytest.fixture
def five_events() -> list[AuditEvent]:
    actor = SystemActor(label="pytest")
    return [
        audit_record(
            actor=actor,
            action="item.changed",
            target=("capture.itemvalue", str(n)),
            old={"weight": str(70 + n)},
            new={"weight": str(71 + n)},
            reason="transcription error",
            chain=CHAIN,
        )
        for n in range(5)
    ]


def problem() -> str:
    report = audit_verify(chain=CHAIN)
    assert not report.intact
    (chain_report,) = report.chains
    assert chain_report.problem is not None
    return chain_report.problem


def test_an_untouched_chain_verifies(five_events: list[AuditEvent]) -> None:
    report = audit_verify(chain=CHAIN)
    assert report.intact
    assert report.chains[0].events == 5
    assert report.lines() == [f"{CHAIN}: intact, 5 events, head #5 {five_events[-1].hash[:16]}…"]


def test_an_edited_value_is_found_at_its_event(five_events: list[AuditEvent]) -> None:
    as_table_owner()
    sql(
        "UPDATE audit_auditevent SET new = %s WHERE id = %s",
        ['{"weight": "99"}', five_events[2].pk],
    )
    message = problem()
    assert message.startswith(f"Event #3 (row id {five_events[2].pk}")
    assert "edited after it was written" in message


def test_an_edited_reason_or_actor_is_found(five_events: list[AuditEvent]) -> None:
    as_table_owner()
    sql(
        "UPDATE audit_auditevent SET actor_label = 'someone else' WHERE id = %s",
        [five_events[0].pk],
    )
    assert problem().startswith("Event #1 ")


def test_a_deleted_event_is_found(five_events: list[AuditEvent]) -> None:
    as_table_owner()
    sql("DELETE FROM audit_auditevent WHERE id = %s", [five_events[1].pk])
    message = problem()
    assert "Event #2 is missing before event #3" in message


def test_a_removed_last_event_is_found_through_the_head(five_events: list[AuditEvent]) -> None:
    as_table_owner()
    sql("DELETE FROM audit_auditevent WHERE id = %s", [five_events[4].pk])
    message = problem()
    assert "ends at event #4" in message
    assert "recorded head is event #5" in message


def test_reordered_events_are_found(five_events: list[AuditEvent]) -> None:
    as_table_owner()
    # Swap the positions of events 2 and 3 through a free sequence number.
    first, second = five_events[1].pk, five_events[2].pk
    sql("UPDATE audit_auditevent SET seq = 1000 WHERE id = %s", [first])
    sql("UPDATE audit_auditevent SET seq = 2 WHERE id = %s", [second])
    sql("UPDATE audit_auditevent SET seq = 3 WHERE id = %s", [first])
    message = problem()
    assert message.startswith(f"Event #2 (row id {second}")
    assert "inserted, removed or reordered" in message


def test_an_inserted_event_is_found(five_events: list[AuditEvent]) -> None:
    as_table_owner()
    # Make room after event 2 and slip in a made-up event whose own hash is correct.
    for event in reversed(five_events[2:]):
        sql("UPDATE audit_auditevent SET seq = seq + 1 WHERE id = %s", [event.pk])
    forged = AuditEvent(
        chain=CHAIN,
        seq=3,
        occurred_at=five_events[2].occurred_at,
        actor_id=None,
        actor_label="intruder",
        action="item.changed",
        target_type="capture.itemvalue",
        target_id="9",
        old=None,
        new={"weight": "50"},
        reason="",
        scheme=1,
        prev_hash=five_events[1].hash,
    )
    forged.hash = event_digest(
        scheme=1,
        chain=CHAIN,
        seq=3,
        occurred_at=forged.occurred_at,
        actor_id=None,
        actor_label="intruder",
        action="item.changed",
        target_type="capture.itemvalue",
        target_id="9",
        old=None,
        new={"weight": "50"},
        reason="",
        prev_hash=five_events[1].hash,
    )
    forged.save(force_insert=True)
    message = problem()
    # The event after the intruder no longer links to what now precedes it.
    assert message.startswith(f"Event #4 (row id {five_events[2].pk}")
    assert "inserted, removed or reordered" in message


def rewrite_chain_from(events: list[AuditEvent], start: int) -> None:
    """Forge a self-consistent chain: change one event and rehash everything after it."""
    as_table_owner()
    previous = events[start - 1].hash if start else "0" * 64
    for event in AuditEvent.objects.filter(chain=CHAIN, seq__gt=start).order_by("seq"):
        if event.seq == start + 1:
            event.new = {"weight": "55"}
        event.prev_hash = previous
        event.hash = digest_of(event)
        sql(
            "UPDATE audit_auditevent SET new = %s, prev_hash = %s, hash = %s WHERE id = %s",
            [
                '{"weight": "55"}' if event.seq == start + 1 else _json(event.new),
                event.prev_hash,
                event.hash,
                event.pk,
            ],
        )
        previous = event.hash


def _json(value: object) -> str:
    import json

    return json.dumps(value)


def test_a_forged_self_consistent_chain_does_not_match_the_recorded_head(
    five_events: list[AuditEvent],
) -> None:
    rewrite_chain_from(five_events, 2)
    message = problem()
    assert "recorded head is event #5" in message
    assert "rewritten" in message


def test_a_forged_chain_with_a_forged_head_is_caught_by_an_exported_anchor(
    five_events: list[AuditEvent],
) -> None:
    anchors = chain_heads()  # exported before the attack, kept outside the database
    rewrite_chain_from(five_events, 2)
    last = AuditEvent.objects.get(chain=CHAIN, seq=5)
    sql("UPDATE audit_chainhead SET hash = %s WHERE chain = %s", [last.hash, CHAIN])
    assert audit_verify(chain=CHAIN).intact  # the database alone is fooled…
    report = audit_verify(chain=CHAIN, anchors=anchors)
    assert not report.intact  # …the anchor is not
    assert "differs from the head anchored outside the database" in (report.chains[0].problem or "")


def test_a_chain_deleted_whole_is_caught_by_its_anchor(five_events: list[AuditEvent]) -> None:
    anchors = chain_heads()
    as_table_owner()
    sql("DELETE FROM audit_auditevent WHERE chain = %s", [CHAIN])
    sql("DELETE FROM audit_chainhead WHERE chain = %s", [CHAIN])
    report = audit_verify(anchors=anchors)
    assert not report.intact
    assert "removed from the end" in (report.chains[0].problem or "")


def test_an_anchor_from_another_moment_still_verifies_a_longer_chain(
    five_events: list[AuditEvent],
) -> None:
    anchors = [Anchor(chain=CHAIN, seq=3, hash=five_events[2].hash)]
    audit_record(actor=SystemActor(label="pytest"), action="later", chain=CHAIN)
    assert audit_verify(chain=CHAIN, anchors=anchors).intact


def test_a_head_without_events_is_reported(five_events: list[AuditEvent]) -> None:
    as_table_owner()
    sql("DELETE FROM audit_auditevent WHERE chain = %s", [CHAIN])
    assert "ends at event #0" in problem()
    assert ChainHead.objects.filter(chain=CHAIN).exists()
