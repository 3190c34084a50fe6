"""``Database``: the handle every part's repository is built on.

It hands out connections and transactions whose failures pass through the one error
translation (``store.errors``), and builds the few statements whose SQL differs between
SQLite and PostgreSQL (insert-or-ignore, upsert, driver-level bulk inserts, claim-with-skip-locked, full-text
ranking, refreshing the planner's statistics, table locks), so no part ever asks which database it
talks to.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Select, Table, TextClause, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

from headway.store.bulk_insert import BulkInsert
from headway.store.errors import translate_errors


def _dialect_of(bind: Engine | Connection) -> Any:
    return postgresql if bind.dialect.name == "postgresql" else sqlite


def insert_ignoring_conflicts(bind: Engine | Connection, table: Table, *, key: Sequence[str] | None = None) -> Insert:
    """``INSERT`` that skips a row whose primary key (or unique ``key``) already exists."""
    statement = _dialect_of(bind).insert(table)
    result: Insert = statement.on_conflict_do_nothing(index_elements=list(key) if key else None)
    return result


def upsert(bind: Engine | Connection, table: Table, *, key: Sequence[str], update: Iterable[str]) -> Insert:
    """``INSERT`` that, on a conflict on ``key``, overwrites the ``update`` columns with the new row's values."""
    statement = _dialect_of(bind).insert(table)
    result: Insert = statement.on_conflict_do_update(
        index_elements=list(key), set_={name: statement.excluded[name] for name in update}
    )
    return result


def claim(bind: Engine | Connection, statement: Select[Any]) -> Select[Any]:
    """Lock the selected rows for a claim; concurrent claimers skip them rather than wait.

    PostgreSQL: ``FOR UPDATE SKIP LOCKED``. SQLite serialises writers already (the claim's
    transaction holds the write lock), so the statement is used as it is.
    """
    if bind.dialect.name == "postgresql":
        return statement.with_for_update(skip_locked=True)
    return statement


def full_text_ranking(
    bind: Engine | Connection,
    *,
    table: str,
    fts_table: str,
    tsvector: str,
    where: str,
    terms: Sequence[str],
    limit: int,
) -> TextClause:
    """Ids of ``table`` rows matching any of ``terms``, most relevant first, at most ``limit``.

    PostgreSQL ranks the ``tsvector`` column of ``table`` with ``ts_rank`` (English
    configuration); SQLite ranks the FTS5 table ``fts_table`` (its rowid is ``table.id``)
    with ``bm25``. ``where`` is a SQL condition on ``table`` under the alias ``t``; its bound
    parameters are the caller's to bind (``q`` and ``n`` are taken).
    """
    if bind.dialect.name == "postgresql":
        statement = text(
            f"SELECT t.id FROM {table} AS t, to_tsquery('english', :q) AS q "
            f"WHERE ({where}) AND t.{tsvector} @@ q ORDER BY ts_rank(t.{tsvector}, q) DESC, t.id LIMIT :n"
        )
        return statement.bindparams(q=" | ".join(terms), n=limit)
    statement = text(
        f"SELECT t.id FROM {fts_table} JOIN {table} AS t ON t.id = {fts_table}.rowid "
        f"WHERE {fts_table} MATCH :q AND ({where}) ORDER BY bm25({fts_table}), t.id LIMIT :n"
    )
    return statement.bindparams(q=" OR ".join('"' + term.replace('"', '""') + '"' for term in terms), n=limit)


def refresh_statistics(connection: Connection, table: str) -> None:
    """Refresh the planner's statistics of ``table`` after a large load.

    PostgreSQL: ``ANALYZE`` (its planner otherwise keeps pre-load statistics and scans
    instead of using an index). SQLite plans well without them, so nothing is done.
    """
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"ANALYZE {table}")


def lock_table(connection: Connection, table: str, *, exclusive: bool) -> None:
    """Serialise this transaction with others that lock ``table``, until it ends; call it first.

    PostgreSQL: ``LOCK TABLE … IN SHARE MODE`` (shared holders run together; no one may write
    the table meanwhile) or ``IN EXCLUSIVE MODE`` (waits for every holder, then keeps all others
    out; plain reads still pass). SQLite has one writer at a time: take the database's write
    lock now (``BEGIN IMMEDIATE``; pysqlite would begin only at the first write, after the
    reads), so both modes exclude every other writer and the reads that follow see every
    committed write.
    """
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"LOCK TABLE {table} IN {'EXCLUSIVE' if exclusive else 'SHARE'} MODE")
        return
    if not getattr(connection.connection.dbapi_connection, "in_transaction", False):
        connection.exec_driver_sql("BEGIN IMMEDIATE")  # already in one: it wrote, so it holds the lock


class Database:
    """Connections and transactions on one store, their errors translated."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @contextmanager
    def connect(self, action: str = "read from the store") -> Iterator[Connection]:
        """A connection for reads (autobegin; nothing is committed unless the caller commits)."""
        with translate_errors(action), self._engine.connect() as connection:
            yield connection

    @contextmanager
    def transaction(self, action: str = "write to the store") -> Iterator[Connection]:
        """A connection in a transaction, committed when the block ends without an exception."""
        with translate_errors(action), self._engine.begin() as connection:
            yield connection

    def insert_ignoring_conflicts(self, table: Table, *, key: Sequence[str] | None = None) -> Insert:
        return insert_ignoring_conflicts(self._engine, table, key=key)

    def upsert(self, table: Table, *, key: Sequence[str], update: Iterable[str]) -> Insert:
        return upsert(self._engine, table, key=key, update=update)

    def bulk_insert(self, table: Table, *, key: Sequence[str] | None = None, update: Iterable[str] = ()) -> BulkInsert:
        return BulkInsert(self._engine, table, key=key, update=update)

    def claim(self, statement: Select[Any]) -> Select[Any]:
        return claim(self._engine, statement)

    def full_text_ranking(
        self, *, table: str, fts_table: str, tsvector: str, where: str, terms: Sequence[str], limit: int
    ) -> TextClause:
        return full_text_ranking(
            self._engine, table=table, fts_table=fts_table, tsvector=tsvector, where=where, terms=terms, limit=limit
        )

    @property
    def identity(self) -> str:
        """Which database this is (its URL, password hidden): stable across processes."""
        return str(self._engine.url)

    @property
    def file_path(self) -> Path | None:
        """The SQLite database's file; ``None`` for PostgreSQL or an in-memory database."""
        url = self._engine.url
        if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
            return None
        return Path(url.database).expanduser()

    def dispose(self) -> None:
        """Close pooled connections (a replica that is shutting down, a test that ends)."""
        self._engine.dispose()
