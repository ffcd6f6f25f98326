"""The content of a demo database, table by table: row counts and digests, to compare two loads.

    .venv/bin/python bench/demo_digest.py DATA_DIR [OTHER_DATA_DIR]

For every table of the SQLite file in DATA_DIR: the number of rows and a SHA-256 of its sorted rows
without what differs from one load to the next by nature: the moments of the load (datetime
columns), the hashes and secrets derived from them or from random salts (the audit chain, the
password hashes, the session keys). Ids and foreign keys are kept: a load that writes the same
rows in the same order gives the same ids. With two folders, prints only the tables that differ
and exits 1 when one does. The audit events are also counted per action.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sqlite3
import sys
from collections import Counter
from pathlib import Path

# Columns whose value depends on the moment or on randomness, not on the demo's content.
TIMELY_TYPES = ("datetime",)
RANDOM_COLUMNS = {
    "password",
    "hash",
    "previous_hash",
    "prev_hash",
    "event_hash",
    "session_key",
    "session_data",
    "expire_date",
    "key",
    "secret",
    "token",
    "last_login",
    "digest",
    # Drawn at random on every load, not from the demo's seed: the minimisation's random draw
    # (the arms it gives are the same) and which kit number holds which arm (kits_generate).
    "draw",
    "number",
    "kit_number",
}
# Which kit row holds which arm is drawn too: in the pharmacy's tables, the kits' ids and
# contents are left out (their statuses, sites, subjects and visits are compared).
RANDOM_IN_TABLE = {"pharmacy_kit": {"id", "content"}}
RANDOM_IN_PREFIX = ("pharmacy_", {"kit_id"})
# A moment of the load written into text (an audit event's values): it has microseconds, the
# demo's own moments (a sample drawn at 08:15) have none.
LOAD_MOMENT = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d\.\d+(\+00:00|Z)?")
# The same kit numbers where they are copied into text (an administration form's kit_number
# value, a message, an audit event) and the draw in the allocation's audit event.
KIT_NUMBER = re.compile(r"\b1\d{5}\b")
DRAW = re.compile(r'"draw": [0-9.e-]+')
SKIPPED_TABLES = {"django_migrations", "django_session", "sqlite_sequence"}


def digest(folder: Path) -> dict[str, tuple[int, str]]:
    """Return each table's row count and content digest."""
    connection = sqlite3.connect(f"file:{folder / 'carnet.sqlite3'}?mode=ro", uri=True)
    tables = [
        name
        for (name,) in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
        )
        if name not in SKIPPED_TABLES
    ]
    found = {}
    for table in tables:
        columns = [
            name
            for _cid, name, kind, *_rest in connection.execute(f'PRAGMA table_info("{table}")')
            if kind.lower() not in TIMELY_TYPES
            and name.lower() not in RANDOM_COLUMNS
            and name not in RANDOM_IN_TABLE.get(table, set())
            and not (table.startswith(RANDOM_IN_PREFIX[0]) and name in RANDOM_IN_PREFIX[1])
        ]
        listed = ", ".join(f'"{name}"' for name in columns)
        rows = sorted(
            DRAW.sub("<draw>", KIT_NUMBER.sub("<kit>", LOAD_MOMENT.sub("<moment>", repr(row))))
            # The names come from the file's own schema, not from outside.
            for row in connection.execute(f'SELECT {listed} FROM "{table}"')  # noqa: S608
        )
        found[table] = (len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest()[:32])
    actions = Counter(
        action for (action,) in connection.execute("SELECT action FROM audit_auditevent")
    )
    for action, count in sorted(actions.items()):
        found[f"audit action {action}"] = (count, "")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("other", type=Path, nargs="?")
    options = parser.parse_args()
    first = digest(options.folder)
    if options.other is None:
        for table, (count, md5) in first.items():
            print(f"{table}\t{count}\t{md5}")
        return
    second = digest(options.other)
    differing = sorted(t for t in first.keys() | second.keys() if first.get(t) != second.get(t))
    for table in differing:
        print(f"{table}\t{first.get(table)}\t{second.get(table)}")
    tables = sum(1 for t in first if not t.startswith("audit action"))
    rows = sum(c for t, (c, _m) in first.items() if not t.startswith("audit action"))
    print(
        f"{len(differing)} of {len(first.keys() | second.keys())} differ "
        f"({tables} tables, {rows:,} rows)"
    )
    sys.exit(1 if differing else 0)


if __name__ == "__main__":
    main()
