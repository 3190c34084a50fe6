"""``SqlRepository``: the base of every part's repository.

A part owns its tables (``<part>/tables.py``, registered with the migrations) and one
repository class per concept that subclasses this, takes the store's ``Database`` and
speaks SQLAlchemy Core through it::

    class FeedbackStore(SqlRepository):
        def add(self, item: Feedback) -> None:
            with self.transaction("record feedback") as connection:
                connection.execute(insert(feedback).values(...))

Connections come from ``reading``/``transaction``, so an outage arrives as
``StoreUnavailableError`` and a bug surfaces; statements that differ between SQLite and
PostgreSQL come from ``self.database`` (``insert_ignoring_conflicts``, ``upsert``,
``claim``), never from a branch on the dialect.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection

from headway.store.database import Database


class SqlRepository:
    """Holds the store's ``Database``; subclasses add the typed methods of one concept."""

    def __init__(self, database: Database) -> None:
        self.database = database

    @contextmanager
    def reading(self, action: str) -> Iterator[Connection]:
        with self.database.connect(action) as connection:
            yield connection

    @contextmanager
    def transaction(self, action: str) -> Iterator[Connection]:
        with self.database.transaction(action) as connection:
            yield connection
