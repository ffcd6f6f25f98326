"""Reading a query's rows as Arrow record batches (ADBC), for the whole-study reads.

Django's cursor hands rows over as Python tuples, one object per value: at millions of values
that is most of an export's read (bench/read_ceiling.py: 1.07 M values/s through the DB-API on
SQLite, 2.71 M/s through ADBC; 1.05 against 1.74 M/s on PostgreSQL, whose driver uses binary
COPY). The Apache Arrow project's ADBC drivers hand over columns instead, which Polars takes
without a copy.

ADBC opens a connection of its own: it cannot see what Django's connection has written and not
committed. `record_batches` therefore reads through it only outside any transaction of Django's
(`in_atomic_block`), and only from PostgreSQL; otherwise it returns None and the caller reads
through Django's cursor as before. A reader that needs the values consistent with later reads
orders them itself (the export reads today's values before the events after its cut-off).

Never from SQLite, although ADBC reads it faster still: its driver carries a copy of SQLite of
its own, and two copies of SQLite in one process break each other's file locks (POSIX locks
belong to the process, and closing a file drops every lock the process holds on it: SQLite's
"How To Corrupt An SQLite Database File", 2.2.1). Tried, the process's next connections to the
database failed with "disk I/O error" (tests/e2e/test_exports.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from typing import Any

from django.db import connections
from django.db.models import QuerySet


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


def _adbc_query(queryset: QuerySet[Any]) -> tuple[Any, str] | None:
    """Return an ADBC database and the query's SQL, or None when the query must go through
    Django's connection (see the module's docstring)."""
    # The vendor's own wrapper (compose_sql), which the stubs do not know.
    connection: Any = connections[queryset.db]
    if connection.in_atomic_block or connection.vendor != "postgresql":
        return None
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

    The batches are streamed (one at a time in memory); the connection closes when the
    iterator is exhausted or closed."""
    opened = _adbc_query(queryset)
    if opened is None:
        return None
    return _streamed(*opened)


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
