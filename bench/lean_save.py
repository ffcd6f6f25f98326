"""A lower bound on the cost of a save, for bench/capture_save.py only: not the product.

`lean_save` writes what a save of the bench form must write, and reads what it must read, in
hand-written SQL with nothing else: the token and its person, the person's role at the
subject's site, the form instance (one INSERT), the 25 values (one INSERT), and the 25 audit
events chained under the study's head, with the product's own hash scheme, in one
transaction. It validates nothing, runs no rule, computes nothing, and answers only the new
version. No implementation of the save that keeps the data model and the audit trail (one
hash-chained event per changed value) can do less work on the database, so its rate is the
ceiling of the ratio the benchmark reports, measured in the same run on the same server.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from django.db import connection, transaction
from django.http import HttpRequest, JsonResponse

from carnet.audit.hashing import event_digest
from carnet.core.hashing import sha256_hex


def _insert(cursor: Any, table: str, rows: list[dict[str, Any]]) -> None:
    columns = list(rows[0])
    names = ", ".join(f'"{c}"' for c in columns)
    if connection.vendor == "postgresql":
        cursor.execute(
            f"INSERT INTO {table} ({names}) SELECT {names} "  # noqa: S608
            f"FROM json_populate_recordset(NULL::{table}, %s)",
            [json.dumps(rows, default=str)],
        )
    else:
        marks = "(" + ", ".join(["%s"] * len(columns)) + ")"
        cursor.execute(
            f"INSERT INTO {table} ({names}) VALUES {', '.join([marks] * len(rows))}",  # noqa: S608
            [row[c] for row in rows for c in columns],
        )


def lean_save(request: HttpRequest, study: str, subject: str, visit: int) -> JsonResponse:
    key = request.headers["Authorization"].removeprefix("Bearer ").strip().upper()
    values: dict[str, Any] = json.loads(request.body)["values"]
    today = date.today()
    now = datetime.now(UTC)
    stamp = connection.ops.adapt_datetimefield_value(now)
    postgresql = connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t.user_id, u.username, s.id, s.current_version_id FROM accounts_apitoken t "
            "JOIN accounts_user u ON u.id = t.user_id JOIN studies_study s ON s.id = t.study_id "
            "WHERE t.key_hash = %s AND t.revoked_at IS NULL AND u.is_active AND s.identifier = %s",
            [sha256_hex(key.encode("ascii")), study],
        )
        user_id, username, study_id, version_id = cursor.fetchone()
        cursor.execute(
            "SELECT p.id FROM subjects_subject p JOIN accounts_membership m "
            "ON m.study_id = p.study_id AND (m.site_id IS NULL OR m.site_id = p.site_id) "
            "WHERE p.study_id = %s AND p.identifier = %s AND m.user_id = %s "
            "AND m.starts_on <= %s AND (m.ends_on IS NULL OR m.ends_on >= %s) LIMIT 1",
            [study_id, subject, user_id, today, today],
        )
        (subject_id,) = cursor.fetchone()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO capture_forminstance (subject_id, environment, event, occurrence, form, "
            '"repeat", status, not_done_reason, version, study_version_id, created_at, '
            "updated_at) VALUES (%s, 'production', 'visit', %s, 'assessment', 1, 'in_progress', "
            "'', 1, %s, %s, %s) RETURNING id",
            [subject_id, visit, version_id, stamp, stamp],
        )
        (instance_id,) = cursor.fetchone()
        fixed = {"group": "vitals", "row": 0, "number": None, "day": None, "missing_code": ""}
        fixed |= {"removed": False, "hidden": False, "changed_in": 1}
        fixed |= {"study_version_id": version_id, "updated_at": stamp, "updated_by": username}
        _insert(
            cursor,
            "capture_itemvalue",
            [
                {"form_instance_id": instance_id, "item": name, "item_oid": f"I.{name.upper()}"}
                | {"text": str(text)}
                | fixed
                for name, text in values.items()
            ],
        )
        chain = f"study:{study}"
        lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
        # The lock clause is one of two constants; the chain is a parameter.
        head = f"SELECT seq, hash FROM audit_chainhead WHERE chain = %s{lock}"  # noqa: S608
        cursor.execute(head, [chain])
        seq, previous = cursor.fetchone()
        events = []
        for name, text in values.items():
            seq += 1
            new = {"text": str(text), "missing": "", "removed": False, "item": name, "row": 0}
            event = {
                "chain": chain, "seq": seq, "occurred_at": now, "actor_id": user_id,
                "actor_label": username, "action": "item.changed",
                "target_type": "capture.itemvalue", "target_id": f"{instance_id}:{name}:0",
                "old": None, "new": new, "reason": "", "scheme": 1, "prev_hash": previous,
            }  # fmt: skip
            previous = event_digest(**event)
            # PostgreSQL takes the JSON inside the rows' JSON; SQLite takes JSON text.
            stored = {**event, "occurred_at": stamp, "hash": previous}
            stored["new"] = new if postgresql else json.dumps(new)
            events.append(stored)
        _insert(cursor, "audit_auditevent", events)
        cursor.execute(
            "UPDATE audit_chainhead SET seq = %s, hash = %s, updated_at = %s WHERE chain = %s",
            [seq, previous, stamp, chain],
        )
    return JsonResponse({"version": 1})
