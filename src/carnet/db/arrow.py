"""Reading a query's rows as Arrow record batches (ADBC), for the whole-study reads.

Django's cursor hands rows over as Python tuples, one object per value: at millions of values
that is most of an export's read (bench/read_ceiling.py: 1.07 M values/s through the DB-API on
SQLite, 2.71 M/s through ADBC; 1.05 against 1.74 M/s on PostgreSQL, whose driver uses binary
COPY). The Apache Arrow project's ADBC drivers hand over columns instead, which Polars takes
without a copy.

ADBC opens a connection of its own: it cannot see what Django's connection has written and not
committed. `record_batches` therefore reads through it only outside any transaction of Django's
(`in_atomic_block`); otherwise it returns None and the caller reads through Django's cursor as
before. A reader that needs the values consistent with later reads orders them itself (the
export reads today's values before the events after its cut-off).

From SQLite, ADBC reads in a process of its own (`carnet.db.sqlite_reader`), which hands the
batches over as an Arrow IPC stream. Its driver carries a copy of SQLite of its own, and two
copies of SQLite in one process break each other's file locks (POSIX locks belong to the
process, and closing a file drops every lock the process holds on it: SQLite's "How To Corrupt
An SQLite Database File", 2.2.1). Tried in this process, its next connections to the database
failed with "disk I/O error" (tests/e2e/test_exports.py). In a process of its own it is one
more reader of the database, as SQLite allows; and it reads while this process works on the
batches already read, on the machine's other core.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from typing import Any

from django.db import DatabaseError, connections
from django.db.models import QuerySet
from django.utils.translation import gettext as _


def postgresql_conninfo(settings: dict[str, Any]) -> str:
    """Return the libpq connection string of Django's database settings (ADBC's URI).

    From NAME, USER, PASSWORD, HOST and PORT, and those of OPTIONS libpq knows (sslmode, …);
    libpq reads what is not given from its environment (PGHOST, PGPASSFILE, …), as psycopg does.
    """
    from psycopg import pq
    from psycopg.conninfo import make_conninfo

    known = {option.keyword.decode() for option in pq.Conninfo.get_defaults()}
    options = {
        key: value
        for key, value in settings.get("OPTIONS", {}).items()
        if key in known and isinstance(value, str | int)
    }
    given = {
        "dbname": settings.get("NAME"),
        "user": settings.get("USER"),
        "password": settings.get("PASSWORD"),
        "host": settings.get("HOST"),
        "port": settings.get("PORT"),
    }
    given = {key: value for key, value in given.items() if value}
    return make_conninfo("", **{**options, **given})


def _adbc_query(queryset: QuerySet[Any]) -> tuple[Any, str]:
    """Return an ADBC database of PostgreSQL and the query's SQL (parameters inlined)."""
    # The vendor's own wrapper (compose_sql), which the stubs do not know.
    connection: Any = connections[queryset.db]
    import adbc_driver_postgresql

    sql, params = queryset.query.sql_with_params()
    connection.ensure_connection()
    # Literals inlined by psycopg itself (Django's compose_sql): a query without parameters is
    # the one ADBC streams through binary COPY.
    composed = connection.ops.compose_sql(sql, params)
    uri = postgresql_conninfo(connection.settings_dict)
    return adbc_driver_postgresql.connect(uri), composed


def record_batches(queryset: QuerySet[Any]) -> Iterator[Any] | None:
    """Return the rows of a values_list queryset as Arrow record batches read through ADBC (in
    the queryset's column order; the names are the database's), or None where ADBC may not
    read them: the caller then reads through Django's cursor.

    The batches are streamed (one at a time in memory); the connection closes, or the reading
    process ends, when the iterator is exhausted or closed."""
    connection: Any = connections[queryset.db]
    if connection.in_atomic_block:
        return None
    if connection.vendor == "postgresql":
        return _streamed(*_adbc_query(queryset))
    if connection.vendor == "sqlite" and not connection.is_in_memory_db():
        sql, params = queryset.query.sql_with_params()
        connection.ensure_connection()
        # Each parameter quoted by SQLite itself (QUOTE(?)), as Django shows a query it ran.
        literal = connection.ops.last_executed_query(None, sql, params)
        return _streamed_by_reader(str(connection.settings_dict["NAME"]), literal)
    return None


def _streamed(database: Any, sql: str) -> Iterator[Any]:
    # ADBC's low-level interface: its DB-API module imports pandas and pyarrow.dataset, 0.7 s
    # of an export's time for nothing it uses.
    import adbc_driver_manager as adbc
    import pyarrow as pa

    with (
        closing(database),
        closing(adbc.AdbcConnection(database)) as connection,
        closing(adbc.AdbcStatement(connection)) as statement,
    ):
        statement.set_sql_query(sql)
        stream, _ = statement.execute_query()
        with pa.RecordBatchReader.from_stream(stream) as reader:
            yield from reader


def _streamed_by_reader(database: str, sql: str) -> Iterator[Any]:
    """Yield the batches that `carnet.db.sqlite_reader`, run as a process, reads."""
    import pyarrow as pa

    process = subprocess.Popen(
        [sys.executable, "-m", "carnet.db.sqlite_reader", database],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    assert process.stderr is not None
    try:
        process.stdin.write(sql.encode("utf-8"))
        process.stdin.close()
        try:
            with pa.ipc.open_stream(process.stdout) as reader:
                yield from reader
        except pa.ArrowInvalid:
            # The process wrote no stream (or half of one): what it says of why is raised below.
            if process.wait() == 0:
                raise
        if process.wait() != 0:
            said = process.stderr.read().decode(errors="replace")
            raise DatabaseError(_("The SQLite reading process failed: %(said)s") % {"said": said})
    finally:
        if process.poll() is None:  # the batches were left unread: the process is not needed
            process.kill()
            process.wait()
        process.stdout.close()
        process.stderr.close()
