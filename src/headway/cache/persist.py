"""The cache's rows in the store: written behind the hot path, read once at start.

Synchronous SQLAlchemy Core over ``store.engine``; async callers go through
``asyncio.to_thread``. Failures raise ``StoreUnavailableError``: a cache that cannot
persist keeps serving from memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from headway.cache.base import CacheEntry
from headway.cache.tables import cache_entries
from headway.errors import StoreUnavailableError

_COLUMNS = tuple(c.name for c in cache_entries.columns)


def _row(entry: CacheEntry) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in _COLUMNS}


class CacheRepository:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _upsert(self, rows: list[dict[str, Any]]) -> Any:
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(cache_entries).values(rows)
        updated = {name: statement.excluded[name] for name in _COLUMNS if name != "key"}
        return statement.on_conflict_do_update(index_elements=["key"], set_=updated)

    def put_many(self, entries: Sequence[CacheEntry]) -> None:
        if not entries:
            return
        # One row per key: the newest write of a batch wins.
        rows = list({entry.key: _row(entry) for entry in entries}.values())
        try:
            with self.engine.begin() as connection:
                connection.execute(self._upsert(rows))
        except SQLAlchemyError as exc:
            raise StoreUnavailableError(f"cannot write cache entries: {exc.__class__.__name__}") from exc

    def load(self, now: float, limit: int) -> list[CacheEntry]:
        """The newest ``limit`` entries still usable at ``now``, oldest first (LRU order)."""
        statement = (
            select(cache_entries)
            .where(cache_entries.c.stale_until > now)
            .order_by(cache_entries.c.created_at.desc())
            .limit(limit)
        )
        try:
            with self.engine.connect() as connection:
                rows = connection.execute(statement).all()
        except SQLAlchemyError as exc:
            raise StoreUnavailableError(f"cannot read cache entries: {exc.__class__.__name__}") from exc
        return [CacheEntry(**dict(row._mapping)) for row in reversed(rows)]

    def purge(self, now: float) -> int:
        """Delete entries no longer usable even as stale."""
        return self._delete(cache_entries.c.stale_until <= now)

    def erase(self, callers: Sequence[str]) -> int:
        if not callers:
            return 0
        return self._delete(cache_entries.c.caller.in_(list(callers)))

    def _delete(self, condition: Any) -> int:
        try:
            with self.engine.begin() as connection:
                return int(connection.execute(delete(cache_entries).where(condition)).rowcount or 0)
        except SQLAlchemyError as exc:
            raise StoreUnavailableError(f"cannot delete cache entries: {exc.__class__.__name__}") from exc
