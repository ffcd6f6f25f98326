"""Benchmark: how fast can item values be read from the database into a frame at all, on this
machine? The ceiling every whole-study benchmark (re-check, export) is bounded by.

A table shaped like Carnet's item values (form instance id, item name, repeat row, canonical
text: about 350 distinct items, short texts) of ``--values`` rows is written to a fresh SQLite
file and a fresh PostgreSQL database (dropped at the end). Then each reader, best of
``--repeat``:

- fetch: the DB-API cursor, ``fetchmany`` of 50,000 rows, each chunk made a Polars frame
  (a Python tuple per row: what Django's iterator does, the floor of bench/export.py);
- csv: the re-check's own read (`carnet.quality.rechecks._select`): PostgreSQL sends CSV through
  COPY, SQLite writes its CSV lines itself (``group_concat`` per slice of 200,000 rows); Polars
  parses the text in native code. No Python object per value;
- adbc: the Apache Arrow project's ADBC drivers (``adbc-driver-sqlite``,
  ``adbc-driver-postgresql``, C/C++; PostgreSQL's binary COPY), Arrow columns handed to Polars
  without a copy: the fastest well-kept reader for Python we know of, and the export's
  (`carnet.db.arrow`; from SQLite in a process of its own, here in this one, which writes
  nothing);
- server: the database alone emitting the rows, no frame at all (``sqlite3`` and ``psql``
  writing them to /dev/null), where those command-line tools are on the machine.

Reported: values/s of each reader, each database. The whole-study re-check's target (issue 18)
is 2 million values/s end to end, the read included.

    .venv/bin/python bench/read_ceiling.py [--quick] [--values 5000000] [--repeat 3]
        [--database sqlite|postgresql|both]

The last line holds the figures.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import shutil
import sqlite3
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import polars as pl

POSTGRES = "postgres://postgres@127.0.0.1:5432"
QUERY = "SELECT form_instance_id, item, row, text FROM item_value"
SCHEMA = {"form_instance_id": pl.Int64, "item": pl.String, "row": pl.Int64, "text": pl.String}
SLICE = 200_000
# The values: one item in 350, a repeat row for one in ten, numbers, codes and dates as text.
FILL = """
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {count})
INSERT INTO item_value (form_instance_id, item, row, text)
SELECT i / 30, 'item' || (i % 350), CASE WHEN i % 10 = 0 THEN i % 7 ELSE 0 END,
CASE i % 3 WHEN 0 THEN CAST(i % 997 AS TEXT) || '.5' WHEN 1 THEN CAST(i % 4 AS TEXT)
ELSE '2026-0' || (1 + i % 9) || '-1' || (i % 10) END FROM n
"""
FILL_PG = """
INSERT INTO item_value (form_instance_id, item, row, text)
SELECT i / 30, 'item' || (i % 350), CASE WHEN i % 10 = 0 THEN i % 7 ELSE 0 END,
CASE i % 3 WHEN 0 THEN (i % 997)::text || '.5' WHEN 1 THEN (i % 4)::text
ELSE '2026-0' || (1 + i % 9) || '-1' || (i % 10) END FROM generate_series(1, {count}) AS i
"""
CREATE = (
    "CREATE TABLE item_value (id {key}, form_instance_id bigint NOT NULL, item varchar(32) NOT "
    "NULL, row integer NOT NULL, text text NOT NULL)"
)


def _fetch(cursor: object) -> pl.DataFrame:
    cursor.execute(QUERY)  # type: ignore[attr-defined]
    frames = []
    while rows := cursor.fetchmany(50_000):  # type: ignore[attr-defined]
        frames.append(pl.DataFrame(rows, schema=SCHEMA, orient="row"))
    return pl.concat(frames)


def _csv(texts: list[bytes]) -> pl.DataFrame:
    return pl.read_csv(
        io.BytesIO(b"\n".join(texts)), has_header=False, new_columns=list(SCHEMA), schema=SCHEMA
    )


def _sqlite_readers(path: Path, count: int) -> dict[str, Callable[[], int]]:
    def fetch() -> int:
        with sqlite3.connect(path) as connection:
            return _fetch(connection.cursor()).height

    def csv() -> int:
        line = (
            "form_instance_id || ',' || '\"' || replace(item, '\"', '\"\"') || '\"' || ',' || "
            "row || ',' || '\"' || replace(text, '\"', '\"\"') || '\"'"
        )
        texts = []
        with sqlite3.connect(path) as connection:
            for start in range(1, count + 1, SLICE):
                (text,) = connection.execute(
                    f"SELECT group_concat({line}, char(10)) FROM item_value "  # noqa: S608
                    "WHERE id >= ? AND id < ?",
                    (start, start + SLICE),
                ).fetchone()
                texts.append(text.encode())
        return _csv(texts).height

    readers = {"fetch": fetch, "csv": csv}
    if importlib.util.find_spec("adbc_driver_sqlite"):

        def adbc() -> int:
            import adbc_driver_sqlite.dbapi as driver

            with driver.connect(str(path)) as connection, connection.cursor() as cursor:
                cursor.execute(QUERY)
                return pl.from_arrow(cursor.fetch_arrow_table()).height  # type: ignore[union-attr]

        readers["adbc"] = adbc
    if shutil.which("sqlite3"):

        def server() -> int:
            subprocess.run(["sqlite3", str(path), QUERY], stdout=subprocess.DEVNULL, check=True)
            return count

        readers["server"] = server
    return readers


def _postgres_readers(url: str, count: int) -> dict[str, Callable[[], int]]:
    import psycopg

    def fetch() -> int:
        with psycopg.connect(url) as connection, connection.cursor() as cursor:
            return _fetch(cursor).height

    def csv() -> int:
        buffer = io.BytesIO()
        with (
            psycopg.connect(url) as connection,
            connection.cursor() as cursor,
            cursor.copy(f"COPY ({QUERY}) TO STDOUT WITH (FORMAT csv)") as copy,
        ):
            for block in copy:
                buffer.write(block)
        return _csv([buffer.getvalue()]).height

    readers = {"fetch": fetch, "csv": csv}
    if importlib.util.find_spec("adbc_driver_postgresql"):

        def adbc() -> int:
            import adbc_driver_postgresql.dbapi as driver

            with driver.connect(url) as connection, connection.cursor() as cursor:
                cursor.execute(QUERY)
                return pl.from_arrow(cursor.fetch_arrow_table()).height  # type: ignore[union-attr]

        readers["adbc"] = adbc
    if shutil.which("psql"):

        def server() -> int:
            subprocess.run(
                ["psql", url, "-qc", f"COPY ({QUERY}) TO STDOUT"],
                stdout=subprocess.DEVNULL,
                check=True,
            )
            return count

        readers["server"] = server
    return readers


def _best(readers: dict[str, Callable[[], int]], count: int, repeat: int) -> dict[str, float]:
    rates = {}
    for name, reader in readers.items():
        best = float("inf")
        for _ in range(repeat):
            began = time.perf_counter()
            read = reader()
            best = min(best, time.perf_counter() - began)
            assert read == count, (name, read, count)
        rates[name] = count / best
    return rates


def _sqlite(count: int, repeat: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="carnet-bench-read-") as folder:
        path = Path(folder) / "values.sqlite3"
        with sqlite3.connect(path) as connection:
            connection.execute(CREATE.format(key="INTEGER PRIMARY KEY"))
            connection.execute(FILL.format(count=count))
        return _best(_sqlite_readers(path, count), count, repeat)


def _postgres(count: int, repeat: int) -> dict[str, float]:
    import psycopg

    name = f"carnet_bench_read_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES + "/postgres", autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    url = f"{POSTGRES}/{name}"
    try:
        with psycopg.connect(url) as connection:
            connection.execute(CREATE.format(key="bigint GENERATED ALWAYS AS IDENTITY"))
            connection.execute(FILL_PG.format(count=count))
            connection.execute("ANALYZE item_value")
        return _best(_postgres_readers(url, count), count, repeat)
    finally:
        with psycopg.connect(POSTGRES + "/postgres", autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="500,000 values, best of 2.")
    parser.add_argument("--values", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    options = parser.parse_args()
    if options.quick:
        options.values, options.repeat = 500_000, 2
    count = options.values
    figures: dict[str, dict[str, float]] = {}
    if options.database in ("sqlite", "both"):
        figures["sqlite"] = _sqlite(count, options.repeat)
    if options.database in ("postgresql", "both"):
        figures["postgresql"] = _postgres(count, options.repeat)
    for database, rates in figures.items():
        for name, rate in rates.items():
            print(f"{database:<11} {name:<7} {rate:>12,.0f} values/s")
    print(
        f"{count:,} values: "
        + "; ".join(
            f"{database} " + " ".join(f"{name}={rate / 1e6:.2f}M/s" for name, rate in rates.items())
            for database, rates in figures.items()
        )
        + " (target of the re-check, end to end: 2.00M/s)"
    )


if __name__ == "__main__":
    main()
