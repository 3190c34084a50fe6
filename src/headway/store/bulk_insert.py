"""``BulkInsert``: many rows into one table from a writer thread, with as few GIL hand-offs as possible.

The request log and the cache write thousands of rows a second from a worker thread while
the event loop serves. Through the driver's ``executemany``, SQLite's module releases the
GIL around every row's step and must take it back from the busy event loop each time:
with a serving thread holding it, every row waited out much of a switch interval
(``bench/writer_gil.py``, request-log batches beside a thread spinning in Python: 35.5 µs
of CPU and 453.6 µs of wall per row, against 8.7 and 9.8 when nothing else ran;
``docs/benchmarks.md``, stop 17). On SQLite the rows therefore go
as multi-row ``INSERT … VALUES (…), (…)`` statements — one step, one hand-off, per up to
``MAX_ROWS_PER_STATEMENT`` rows, within the connection's bound-variable limit. PostgreSQL
keeps ``executemany`` (psycopg pipelines it; the GIL is released for the network, not per row).

Rows are tuples in the table's column order with JSON columns already encoded (SQLAlchemy's
per-row bind processing cost several times the insert itself). A row whose ``key`` (default:
primary key) exists is skipped, or, with ``update``, overwrites those columns. Both dialects
read ``ON CONFLICT`` alike (SQLite ≥ 3.24).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from itertools import chain
from typing import Any

from sqlalchemy import Connection, Engine, Table

# The GIL is held while a statement's values are bound (one C loop, no eval-breaker checks):
# 64 rows of the request log's 35 columns keep that well under the 0.5 ms switch interval
# (256 rows measured the same per row in bench/writer_gil.py, with 4x the hold), and bound
# the statement's text and its one-off prepare (~6 µs per row of the statement).
MAX_ROWS_PER_STATEMENT = 64


class BulkInsert:
    def __init__(
        self, bind: Engine | Connection, table: Table, *, key: Sequence[str] | None = None, update: Iterable[str] = ()
    ) -> None:
        self.columns = tuple(column.name for column in table.columns)
        self._postgres = bind.dialect.name == "postgresql"
        mark = "%s" if self._postgres else "?"
        self._head = f"INSERT INTO {table.name} ({', '.join(self.columns)}) VALUES "
        self._row = f"({', '.join([mark] * len(self.columns))})"
        updated = list(update)
        if not updated:
            self._conflict = " ON CONFLICT DO NOTHING"
        else:
            target = ", ".join(key or [column.name for column in table.primary_key.columns])
            self._conflict = f" ON CONFLICT ({target}) DO UPDATE SET " + ", ".join(f"{n} = excluded.{n}" for n in updated)
        self._statements: dict[int, str] = {}  # rows per statement -> its SQL (the driver caches the prepared form)
        self._rows_per_statement: int | None = None

    def sql(self, rows: int) -> str:
        """The statement inserting ``rows`` rows at once (``1``: the one ``executemany`` takes)."""
        statement = self._statements.get(rows)
        if statement is None:
            statement = self._statements[rows] = self._head + ", ".join([self._row] * rows) + self._conflict
        return statement

    def execute(self, connection: Connection, rows: Sequence[tuple[Any, ...]]) -> int:
        """Insert ``rows`` in the caller's transaction; returns how many rows were inserted or updated."""
        if not rows:
            return 0
        if self._postgres:
            return _count(connection.exec_driver_sql(self.sql(1), list(rows)).rowcount)
        per = self._rows_per_statement or self._fit(connection)
        written, start = 0, 0
        while start < len(rows):
            # Full statements, then the rest in powers of two: a handful of distinct statements
            # per table, each prepared once and kept in the driver's statement cache (a new
            # size for every batch's remainder re-prepared a long statement each time).
            left = len(rows) - start
            size = per if left >= per else 1 << (left.bit_length() - 1)
            chunk = rows[start:start + size]
            written += _count(connection.exec_driver_sql(self.sql(size), tuple(chain.from_iterable(chunk))).rowcount)
            start += size
        return written

    def _fit(self, connection: Connection) -> int:
        """Rows per statement within this SQLite's bound-variable limit (999 before 3.32, 32,766 since)."""
        driver = connection.connection.driver_connection
        limit = driver.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) if isinstance(driver, sqlite3.Connection) else 999
        self._rows_per_statement = max(1, min(MAX_ROWS_PER_STATEMENT, limit // len(self.columns)))
        return self._rows_per_statement


def _count(rowcount: int | None) -> int:
    return max(int(rowcount or 0), 0)
