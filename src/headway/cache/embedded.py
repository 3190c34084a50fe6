"""The embedded cache backend: lookups from process memory, durability in the store.

Reads never leave the process: the LRU (``memory.py``) answers every lookup. New
entries are queued and written to the ``cache_entries`` table in batches by a
background task (``persist.py``), and the newest ones are loaded back at start, so a
restart keeps the cache warm — and keeps stale answers for stale-if-error. With
several workers, each keeps its own memory and they share the table; the shared
(Redis) backend is the one for many replicas.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from headway.cache.base import CacheEntry, CacheHit
from headway.cache.memory import MemoryCache
from headway.cache.persist import CacheRepository
from headway.errors import StoreUnavailableError
from headway.store import WriteBehind, WriterPolicy

log = logging.getLogger("headway.cache")

FLUSH_INTERVAL_S = 0.5
MAX_PENDING = 10_000  # unwritten entries beyond this are kept in memory only


class EmbeddedCache:
    def __init__(
        self,
        *,
        max_entries: int,
        max_candidates: int,
        repository: CacheRepository | None = None,
        flush_interval: float = FLUSH_INTERVAL_S,
    ) -> None:
        self.memory = MemoryCache(max_entries=max_entries, max_candidates=max_candidates)
        self._repository = repository
        self._max_entries = max_entries
        # The cache is an optimisation: entries that cannot be written (a full queue, a store
        # outage) stay in memory only, and the store catches up with new ones.
        policy = WriterPolicy(
            name="cache", capacity=MAX_PENDING, batch_size=MAX_PENDING, flush_interval=flush_interval,
            on_full="drop", on_unavailable="drop",
        )
        self._writer: WriteBehind[CacheEntry] | None = (
            WriteBehind(repository.put_many, policy) if repository is not None else None
        )

    # -- CacheBackend -------------------------------------------------------------------
    async def get(self, key: str, now: float) -> CacheEntry | None:
        return self.memory.get(key, now)

    async def nearest(self, scope: str, params: str, vector: bytes, threshold: float, now: float) -> CacheHit | None:
        return self.memory.nearest(scope, params, vector, threshold, now)

    async def put(self, entry: CacheEntry) -> None:
        self.memory.put(entry)
        if self._writer is not None:
            self._writer.submit(entry)

    async def erase(self, callers: Sequence[str]) -> int:
        wanted = set(callers)
        if not wanted:
            return 0
        erased = self.memory.erase(lambda entry: entry.caller in wanted)
        gone = set(erased)
        stored = 0
        if self._repository is not None and self._writer is not None:
            # Entries still queued for the store must not reach it.
            self._writer.discard(lambda entry: entry.key in gone or entry.caller in wanted)
            async with self._writer.exclusive():  # a batch already on its way lands first, then goes
                stored = await asyncio.to_thread(self._repository.erase, sorted(wanted))
        return max(len(erased), stored)

    async def start(self) -> None:
        if self._repository is None or self._writer is None:
            return
        now = time.time()
        try:
            await asyncio.to_thread(self._repository.purge, now)
            for entry in await asyncio.to_thread(self._repository.load, now, self._max_entries):
                self.memory.put(entry)
        except StoreUnavailableError as exc:
            log.warning("cache: could not load persisted entries: %s", exc)
        await self._writer.start()

    async def close(self) -> None:
        if self._writer is not None:
            await self._writer.close()

    async def flush(self) -> None:
        """Write every queued entry now (tests and shutdown)."""
        if self._writer is not None:
            await self._writer.flush()
