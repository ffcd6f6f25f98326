"""The audit hash scheme: what exactly is hashed, versioned so it can evolve safely.

Scheme 1 hashes the canonical JSON (sorted keys, UTF-8) of every stored field of an event
except its own hash, with the time as UTC ISO 8601 to the microsecond. A later scheme may add
fields; events keep the scheme they were written with and the verifier applies each one's.
"""

from datetime import UTC, datetime
from typing import Any

from carnet.core.hashing import sha256_of_json

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
) -> str:
    """Return the SHA-256 that binds an event's content to its place in its chain."""
    if scheme != 1:
        raise ValueError(f"Unknown audit hash scheme {scheme}.")
    return sha256_of_json(
        {
            "scheme": scheme,
            "chain": chain,
            "seq": seq,
            "occurred_at": timestamp_text(occurred_at),
            "actor_id": actor_id,
            "actor_label": actor_label,
            "action": action,
            "target_type": target_type,
            "target_id": target_id,
            "old": old,
            "new": new,
            "reason": reason,
            "prev_hash": prev_hash,
        }
    )


def digest_of(event: Any) -> str:
    """Return the hash an audit event (a model instance or anything with its fields) must have."""
    return event_digest(
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
