"""The audit append assembles scheme 1's canonical JSON from pieces (shared fields once per
append, each event's values once): its bytes must be exactly the canonical JSON of the whole
event, or every chain written since would fail verification."""

from datetime import UTC, datetime

import pytest

from carnet.audit.hashing import event_digest
from carnet.audit.models import AuditEvent
from carnet.core.hashing import sha256_of_json

AWKWARD = [
    None,
    "",
    'quote " backslash \\ slash / tab \t newline \n nul \x00 bell \x07',
    "accents éàü, CJK 日本, emoji 🧪, right-to-left \u202e",
    {"b": [1, 2.5, -0.0, 1e-07, True, None], "a": {"z": "", "é": "x"}},
    [{"text": "12.5", "number": "12.5", "row": 0}],
    123456789012345678901234567890,
]


@pytest.mark.parametrize("old", AWKWARD)
@pytest.mark.parametrize("new", AWKWARD[2:])
def test_the_assembled_text_is_the_canonical_json_of_the_event(old, new):
    fields = {
        "scheme": 1,
        "chain": 'study:ACC-"209"',
        "seq": 987654321,
        "occurred_at": datetime(2026, 12, 5, 3, 55, 0, 12, tzinfo=UTC),
        "actor_id": None if old is None else 42,
        "actor_label": "dm.leroux (Élise « DM » Leroux)",
        "action": "item.changed",
        "target_type": "capture.itemvalue",
        "target_id": "1:hb:0",
        "old": old,
        "new": new,
        "reason": 'Correction\tafter "query" #3\n',
        "prev_hash": "a" * 64,
    }
    definition = sha256_of_json({**fields, "occurred_at": "2026-12-05T03:55:00.000012Z"})
    assert event_digest(**fields) == definition


def test_the_append_builds_events_in_the_model_field_order():
    # audit_record_many passes the fields positionally (Django's quick path).
    assert [field.attname for field in AuditEvent._meta.concrete_fields] == [
        "id", "chain", "seq", "occurred_at", "actor_id", "actor_label", "action",
        "target_type", "target_id", "old", "new", "reason", "scheme", "prev_hash", "hash",
    ]  # fmt: skip
