"""Recording audit events. Every app calls `audit_record` inside its own transaction."""

from __future__ import annotations

import getpass
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, Protocol
from uuid import UUID

from django.db import connection, models, transaction

from carnet.audit.hashing import scheme1_digest, scheme1_head
from carnet.audit.models import GENESIS_HASH, SYSTEM_CHAIN, AuditEvent, ChainHead
from carnet.core.canonical_json import canonical_json
from carnet.core.clock import utc_now
from carnet.db.bulk import rows_insert


class Person(Protocol):
    """A person signed in, as the audit trail records them: an id and a user name.

    A protocol, not the accounts' User model: audit sits below accounts and never imports it.
    The full name, when the person has one, is read too (`full_name`)."""

    @property
    def pk(self) -> Any: ...

    def get_username(self) -> str: ...


@dataclass(frozen=True)
class SystemActor:
    """Someone acting outside a web session: a command run on the server, the worker."""

    label: str

    @classmethod
    def command_line(cls, command: str) -> SystemActor:
        """Return the actor for a `carnet` command, named after the operating-system account."""
        try:
            who = getpass.getuser()
        except (KeyError, OSError):  # no passwd entry, as in some containers
            who = "unknown"
        return cls(label=f"{command} (system account {who})")


# Who acts: a person signed in, or the system on someone's behalf (a command, the worker).
Actor = Person | SystemActor


def study_chain(study_identifier: str) -> str:
    """Return the name of a study's chain."""
    return f"study:{study_identifier}"


_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})


def jsonable(value: Any) -> Any:
    """Return ``value`` with dates, decimals and UUIDs as text, ready for canonical JSON."""
    if type(value) in _JSON_SCALARS:  # most of a form's values: nothing to turn into text
        return value
    if isinstance(value, dict):
        return {str(key): jsonable(element) for key, element in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        elements = [jsonable(element) for element in value]
        return (
            sorted(elements, key=canonical_json) if isinstance(value, set | frozenset) else elements
        )
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    return value


def _canonical(value: Any) -> str:
    """Return the canonical JSON of a value made `jsonable`, whose keys are all text: json
    itself refuses the rest that has no JSON form (for the demo's 320,000 values, walking each
    value first took a third of the time); the full check then says where."""
    try:
        return canonical_json(value, checked=True)
    except (TypeError, ValueError):
        return canonical_json(value)  # raises TypeError naming the place


def _actor_fields(actor: Any) -> tuple[int | None, str]:
    if isinstance(actor, SystemActor):
        return None, actor.label
    label = actor.get_username()
    full_name = getattr(actor, "full_name", "")
    return actor.pk, f"{label} ({full_name})" if full_name else label


def _target_fields(target: models.Model | tuple[str, str] | None) -> tuple[str, str]:
    if target is None:
        return "", ""
    if isinstance(target, tuple):
        return target
    meta = target._meta
    return f"{meta.app_label}.{meta.model_name}", str(target.pk)


@dataclass(frozen=True)
class AuditEntry:
    """One change to record: what was done to what, the old and new values, and why."""

    action: str
    target: models.Model | tuple[str, str] | None = None
    old: Any = None
    new: Any = None
    reason: str = ""


def audit_record(
    *,
    actor: Actor,
    action: str,
    target: models.Model | tuple[str, str] | None = None,
    old: Any = None,
    new: Any = None,
    reason: str = "",
    chain: str = SYSTEM_CHAIN,
) -> AuditEvent:
    """Append one event to ``chain`` (the system chain unless a study's is given).

    Runs inside the caller's transaction, so the event exists exactly when the change does.
    """
    entry = AuditEntry(action=action, target=target, old=old, new=new, reason=reason)
    return audit_record_many(actor=actor, entries=[entry], chain=chain)[0]


def audit_record_many(
    *, actor: Actor, entries: Sequence[AuditEntry], chain: str = SYSTEM_CHAIN
) -> list[AuditEvent]:
    """Append several events of one change (a form's values) to ``chain``, in order.

    The chain is locked once, as late as possible: callers record their events last in their
    transaction, so concurrent saves of one study wait for each other only that long.
    """
    if not entries:
        return []
    actor_id, actor_label = _actor_fields(actor)
    prepared = []
    for entry in entries:
        target_type, target_id = _target_fields(entry.target)
        old_value, new_value = jsonable(entry.old), jsonable(entry.new)
        # Refuse values without one JSON form now, not when the verifier meets them; their
        # canonical text is then the hash's.
        old_text, new_text = _canonical(old_value), _canonical(new_value)
        prepared.append((entry, target_type, target_id, old_value, new_value, old_text, new_text))

    # Inside the caller's transaction (no savepoint: a failure here fails the whole change).
    with transaction.atomic(savepoint=False):
        seq, previous = _head_locked(chain)
        # The time is taken under the lock so that times never go backwards along a chain.
        now = utc_now()
        head = scheme1_head(
            chain=chain, occurred_at=now, actor_id=actor_id, actor_label=actor_label
        )
        events = []
        for entry, target_type, target_id, old_value, new_value, old_text, new_text in prepared:
            seq += 1
            digest = scheme1_digest(
                head,
                seq=seq,
                action=entry.action,
                target_type=target_type,
                target_id=target_id,
                old_text=old_text,
                new_text=new_text,
                reason=entry.reason,
                prev_hash=previous,
            )
            # Positional arguments, in the model's field order: Django's quick path. The
            # events are written in scheme 1, the one `scheme1_digest` computes.
            fields: list[Any] = [None, chain, seq, now, actor_id, actor_label, entry.action]
            fields += [target_type, target_id, old_value, new_value, entry.reason, 1]
            # (django-stubs types keyword arguments only: positional ones read as one tuple.)
            events.append(AuditEvent(*fields, previous, digest))  # type: ignore[misc]
            previous = digest
        rows_insert(events)
        with connection.cursor() as cursor:
            cursor.execute(
                # Names come from the models, every value is a parameter.
                f"UPDATE {ChainHead._meta.db_table} SET seq = %s, hash = %s, updated_at = %s "  # noqa: S608
                "WHERE chain = %s",
                [seq, previous, connection.ops.adapt_datetimefield_value(now), chain],
            )
    return events


def _head_locked(chain: str) -> tuple[int, str]:
    """Return the chain head's position and hash, locked until the transaction ends.

    The head row is the chain's lock: SELECT … FOR UPDATE makes concurrent writers append one
    after another (PostgreSQL; SQLite's IMMEDIATE transactions already serialise writers). The
    first event of a chain creates its head (INSERT … ON CONFLICT DO NOTHING, then lock it).
    """
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    select = f"SELECT seq, hash FROM {ChainHead._meta.db_table} WHERE chain = %s{lock}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(select, [chain])
        row = cursor.fetchone()
        if row is None:
            ChainHead.objects.bulk_create(
                [ChainHead(chain=chain, seq=0, hash=GENESIS_HASH)], ignore_conflicts=True
            )
            cursor.execute(select, [chain])
            row = cursor.fetchone()
    return int(row[0]), str(row[1])
