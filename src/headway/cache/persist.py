"""The cache's rows in the store: written behind the hot path, read once at start.

Synchronous SQLAlchemy Core through the store's ``Database``; async callers go through
``asyncio.to_thread``. An outage raises ``StoreUnavailableError``: a cache that cannot
persist keeps serving from memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from operator import attrgetter
from typing import Any

import orjson
from sqlalchemy import delete, select

from headway.cache.base import CacheEntry
from headway.cache.tables import cache_entries
from headway.store import BulkInsert, SqlRepository

_COLUMNS = tuple(c.name for c in cache_entries.columns)
_BODY = _COLUMNS.index("body")
_FIELDS = attrgetter(*_COLUMNS)  # one C call per row, in the table's column order


def _row(entry: CacheEntry) -> tuple[Any, ...]:
    row = list(_FIELDS(entry))
    row[_BODY] = entry.body.decode()  # the JSON column takes text
    return tuple(row)


def _entry(row: Any) -> CacheEntry:
    fields = dict(row._mapping)
    fields["body"] = orjson.dumps(fields["body"])
    return CacheEntry(**fields)


class CacheRepository(SqlRepository):
    @cached_property
    def _upsert(self) -> BulkInsert:
        # Driver-level, the bodies already encoded: through Core, bind processing (the JSON
        # column's serialiser above all) cost the writer thread more than the insert.
        return self.database.bulk_insert(cache_entries, key=["key"], update=[n for n in _COLUMNS if n != "key"])

    def put_many(self, entries: Sequence[CacheEntry]) -> None:
        if not entries:
            return
        # One row per key: the newest write of a batch wins.
        rows = list({entry.key: _row(entry) for entry in entries}.values())
        with self.transaction("write cache entries") as connection:
            self._upsert.execute(connection, rows)

    def load(self, now: float, limit: int) -> list[CacheEntry]:
        """The newest ``limit`` entries still usable at ``now``, oldest first (LRU order)."""
        statement = (
            select(cache_entries)
            .where(cache_entries.c.stale_until > now)
            .order_by(cache_entries.c.created_at.desc())
            .limit(limit)
        )
        with self.reading("read cache entries") as connection:
            rows = connection.execute(statement).all()
        return [_entry(row) for row in reversed(rows)]

    def trim(self, keep: int) -> int:
        """Delete all but the ``keep`` newest entries: a start loads no more than those."""
        newest = (
            select(cache_entries.c.created_at)
            .order_by(cache_entries.c.created_at.desc())
            .offset(keep - 1)
            .limit(1)
            .scalar_subquery()
        )
        return self._delete(cache_entries.c.created_at < newest)

    def purge(self, now: float) -> int:
        """Delete entries no longer usable even as stale."""
        return self._delete(cache_entries.c.stale_until <= now)

    def erase(self, callers: Sequence[str]) -> int:
        if not callers:
            return 0
        return self._delete(cache_entries.c.caller.in_(list(callers)))

    def _delete(self, condition: Any) -> int:
        with self.transaction("delete cache entries") as connection:
            return int(connection.execute(delete(cache_entries).where(condition)).rowcount or 0)
