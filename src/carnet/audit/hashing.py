"""The audit hash scheme: what exactly is hashed, versioned so it can evolve safely.

Scheme 1 hashes the canonical JSON (sorted keys, UTF-8) of every stored field of an event
except its own hash, with the time as UTC ISO 8601 to the microsecond. A later scheme may add
fields; events keep the scheme they were written with and the verifier applies each one's.
"""

import json
from datetime import UTC, datetime
from typing import Any

from carnet.core.canonical_json import canonical_json
from carnet.core.hashing import sha256_hex

CURRENT_SCHEME = 1


def timestamp_text(moment: datetime) -> str:
    """Return the one text form of an event time that the hash covers."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_digest(
    *,
    scheme: int,
    chain: str,
    seq: int,
    occurred_at: datetime,
    actor_id: int | None,
    actor_label: str,
    action: str,
    target_type: str,
    target_id: str,
    old: Any,
    new: Any,
    reason: str,
    prev_hash: str,
    checked: bool = False,
) -> str:
    """Return the SHA-256 that binds an event's content to its place in its chain.

    ``checked``: ``old`` and ``new`` already passed `json_check` (the other fields are the
    model's text, integers and time, JSON by construction)."""
    if scheme != 1:
        raise ValueError(f"Unknown audit hash scheme {scheme}.")
    head = scheme1_head(
        chain=chain, occurred_at=occurred_at, actor_id=actor_id, actor_label=actor_label
    )
    return scheme1_digest(
        head,
        seq=seq,
        action=action,
        target_type=target_type,
        target_id=target_id,
        old_text=canonical_json(old, checked=checked),
        new_text=canonical_json(new, checked=checked),
        reason=reason,
        prev_hash=prev_hash,
    )


# Scheme 1 hashes the canonical JSON of the event's fields as one object. Its text is assembled
# here from the fields' own canonical JSON, keys in sorted order, so that a batch of events
# serialises its shared fields (chain, time, actor) once and each event's old and new values
# once; the bytes are exactly `canonical_json` of the whole object (tests/audit compare them).
_dump = json.JSONEncoder(ensure_ascii=False).encode


def scheme1_head(
    *, chain: str, occurred_at: datetime, actor_id: int | None, actor_label: str
) -> tuple[str, str]:
    """Return the canonical JSON pieces that the events of one append share."""
    return (
        f',"actor_id":{_dump(actor_id)},"actor_label":{_dump(actor_label)},'
        f'"chain":{_dump(chain)},"new":',
        f',"occurred_at":{_dump(timestamp_text(occurred_at))},"old":',
    )


def scheme1_digest(
    head: tuple[str, str],
    *,
    seq: int,
    action: str,
    target_type: str,
    target_id: str,
    old_text: str,
    new_text: str,
    reason: str,
    prev_hash: str,
) -> str:
    """Return the scheme-1 hash of one event from its shared pieces and its own fields."""
    text = (
        f'{{"action":{_dump(action)}{head[0]}{new_text}{head[1]}{old_text}'
        f',"prev_hash":{_dump(prev_hash)},"reason":{_dump(reason)},"scheme":1,'
        f'"seq":{int(seq)},"target_id":{_dump(target_id)},"target_type":{_dump(target_type)}}}'
    )
    return sha256_hex(text.encode("utf-8"))


def digest_of(event: Any, *, checked: bool = False) -> str:
    """Return the hash an audit event (a model instance or anything with its fields) must have."""
    return event_digest(
        checked=checked,
        scheme=event.scheme,
        chain=event.chain,
        seq=event.seq,
        occurred_at=event.occurred_at,
        actor_id=event.actor_id,
        actor_label=event.actor_label,
        action=event.action,
        target_type=event.target_type,
        target_id=event.target_id,
        old=event.old,
        new=event.new,
        reason=event.reason,
        prev_hash=event.prev_hash,
    )
