"""Read one query from a SQLite database through ADBC, in a process of its own.

Run as ``python -m carnet.db.sqlite_reader DATABASE`` with the query's SQL (parameters
inlined) on standard input; the rows go to standard output as an Arrow IPC stream.

ADBC's SQLite driver carries its own copy of SQLite, which must never share a process with
Python's (`carnet.db.arrow` says why): here it has a process to itself, as a second program
reading the same database would, which SQLite allows. The database is opened read-only.

Nothing of Django or Carnet is imported: the process starts in a fraction of a second.
"""

from __future__ import annotations

import sys
from contextlib import closing
from pathlib import Path

# Rows a batch: the driver's default (1,024) would cut a large read into thousands of batches.
BATCH_ROWS = 65_536


def stream_query(database: Path, sql: str, output: object) -> None:
    """Write the rows of ``sql`` read from ``database`` to ``output`` as an Arrow IPC stream."""
    import adbc_driver_manager as adbc
    import adbc_driver_sqlite
    import pyarrow as pa

    uri = f"{database.resolve().as_uri()}?mode=ro"
    with (
        closing(adbc_driver_sqlite.connect(uri)) as opened,
        closing(adbc.AdbcConnection(opened)) as connection,
        closing(adbc.AdbcStatement(connection)) as statement,
    ):
        statement.set_options(**{adbc_driver_sqlite.StatementOptions.BATCH_ROWS.value: BATCH_ROWS})
        statement.set_sql_query(sql)
        stream, _ = statement.execute_query()
        with (
            pa.RecordBatchReader.from_stream(stream) as reader,
            pa.ipc.new_stream(output, reader.schema) as writer,
        ):
            for batch in reader:
                writer.write_batch(batch)


def main() -> None:
    stream_query(Path(sys.argv[1]), sys.stdin.read(), sys.stdout.buffer)


if __name__ == "__main__":
    main()
