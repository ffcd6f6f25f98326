"""What an audit event records, and what it refuses to record."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from carnet.accounts.services import user_create
from carnet.audit.models import GENESIS_HASH, SYSTEM_CHAIN, AuditEvent
from carnet.audit.services import SystemActor, audit_record, study_chain

pytestmark = pytest.mark.django_db


def test_events_are_chained_in_order_from_the_genesis_hash(system_actor: SystemActor) -> None:
    first = audit_record(actor=system_actor, action="one")
    second = audit_record(actor=system_actor, action="two")
    assert (first.seq, first.prev_hash) == (1, GENESIS_HASH)
    assert (second.seq, second.prev_hash) == (2, first.hash)
    assert first.chain == second.chain == SYSTEM_CHAIN


def test_each_study_has_its_own_chain(system_actor: SystemActor) -> None:
    audit_record(actor=system_actor, action="x", chain=study_chain("A"))
    event = audit_record(actor=system_actor, action="x", chain=study_chain("B"))
    assert (event.chain, event.seq) == ("study:B", 1)


def test_it_records_who_what_old_new_and_why(system_actor: SystemActor) -> None:
    user = user_create(actor=system_actor, username="marie", password=None, full_name="Marie Curie")
    event = audit_record(
        actor=user,
        action="item.changed",
        target=user,
        old={"visit": date(2026, 1, 5), "dose": Decimal("12.50")},
        new={"visit": date(2026, 1, 6), "dose": Decimal("12.75")},
        reason="transcription error",
    )
    event.refresh_from_db()
    assert event.actor_id == user.pk
    assert event.actor_label == "marie (Marie Curie)"
    assert (event.target_type, event.target_id) == ("accounts.user", str(user.pk))
    assert event.old == {"visit": "2026-01-05", "dose": "12.50"}
    assert event.new == {"visit": "2026-01-06", "dose": "12.75"}
    assert event.reason == "transcription error"
    assert event.occurred_at.utcoffset() is not None
    assert event.occurred_at.utcoffset().total_seconds() == 0


def test_a_value_without_a_json_form_is_refused_and_nothing_is_written(
    system_actor: SystemActor,
) -> None:
    with pytest.raises(TypeError, match="must be converted to text first"):
        audit_record(actor=system_actor, action="x", new={"file": object()})
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ({"dose": float("nan")}, r"\$\.dose: nan has no JSON form"),
        ([1, {"at": float("inf")}], r"\$\[1\]\.at: inf has no JSON form"),
        ({"file": [object()]}, r"\$\.file\[0\]: object must be converted to text first"),
    ],
)
def test_a_value_without_a_json_form_is_refused_with_its_place_nothing_written(
    system_actor: SystemActor, value: object, said: str
) -> None:
    """The trail turns values into JSON without walking them first: what json refuses is then
    checked again, so the refusal still names the place, and nothing is written."""
    with pytest.raises(TypeError, match=said):
        audit_record(actor=system_actor, action="x", old={"ok": 1}, new=value)
    assert not AuditEvent.objects.exists()


def test_creating_an_account_writes_a_system_event_without_the_password(
    system_actor: SystemActor,
) -> None:
    user_create(
        actor=system_actor, username="jean", password="correct horse battery", email="j@x.fr"
    )
    event = AuditEvent.objects.get(action="user.created")
    assert event.chain == SYSTEM_CHAIN
    assert event.new["username"] == "jean"
    assert "correct horse battery" not in str(event.new)
    assert event.new["password_set"] is True
