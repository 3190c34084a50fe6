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
import contextlib
import logging
import time
from collections.abc import Sequence

from headway.cache.base import CacheEntry, CacheHit
from headway.cache.memory import MemoryCache
from headway.cache.persist import CacheRepository
from headway.errors import StoreUnavailableError

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
        self._pending: list[CacheEntry] = []
        self._flush_interval = flush_interval
        self._wake = asyncio.Event()
        # Held while a batch is on its way to the store, so an erasure cannot be overtaken by it.
        self._writing = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    # -- CacheBackend -------------------------------------------------------------------
    async def get(self, key: str, now: float) -> CacheEntry | None:
        return self.memory.get(key, now)

    async def nearest(self, scope: str, params: str, vector: bytes, threshold: float, now: float) -> CacheHit | None:
        return self.memory.nearest(scope, params, vector, threshold, now)

    async def put(self, entry: CacheEntry) -> None:
        self.memory.put(entry)
        if self._repository is not None and len(self._pending) < MAX_PENDING:
            self._pending.append(entry)

    async def erase(self, callers: Sequence[str]) -> int:
        wanted = set(callers)
        if not wanted:
            return 0
        erased = self.memory.erase(lambda entry: entry.caller in wanted)
        gone = set(erased)
        # Entries still queued for the store must not reach it.
        self._pending = [entry for entry in self._pending if entry.key not in gone]
        stored = 0
        if self._repository is not None:
            async with self._writing:  # a batch already on its way lands first, then goes
                stored = await asyncio.to_thread(self._repository.erase, sorted(wanted))
        return max(len(erased), stored)

    async def start(self) -> None:
        if self._repository is None:
            return
        now = time.time()
        try:
            await asyncio.to_thread(self._repository.purge, now)
            for entry in await asyncio.to_thread(self._repository.load, now, self._max_entries):
                self.memory.put(entry)
        except StoreUnavailableError as exc:
            log.warning("cache: could not load persisted entries: %s", exc)
        self._task = asyncio.create_task(self._run(), name="headway-cache-writer")

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()

    async def flush(self) -> None:
        """Write every queued entry now (tests and shutdown)."""
        if self._repository is None or not self._pending:
            return
        async with self._writing:
            batch, self._pending = self._pending, []
            try:
                await asyncio.to_thread(self._repository.put_many, batch)
            except StoreUnavailableError as exc:
                # The cache is an optimisation: entries stay in memory, the store catches up with new ones.
                log.warning("cache: could not persist %d entries: %s", len(batch), exc)

    async def _run(self) -> None:
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._flush_interval):
                    await self._wake.wait()
            await self.flush()
