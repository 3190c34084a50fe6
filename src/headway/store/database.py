"""``Database``: the handle every part's repository is built on.

It hands out connections and transactions whose failures pass through the one error
translation (``store.errors``), and builds the few statements whose SQL differs between
SQLite and PostgreSQL (insert-or-ignore, upsert, claim-with-skip-locked), so no part
ever asks which database it talks to.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, Select, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

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

    def claim(self, statement: Select[Any]) -> Select[Any]:
        return claim(self._engine, statement)

    def dispose(self) -> None:
        """Close pooled connections (a replica that is shutting down, a test that ends)."""
        self._engine.dispose()
