"""The embedded cache backend: lookups from process memory, durability in the store.

Reads never leave the process: the LRU (``memory.py``) answers every lookup. The table
(``persist.py``) is the warm start: the newest ``max_entries`` rows are loaded back at
start, so a restart keeps the cache warm — and keeps stale answers for stale-if-error.

What reaches the table is what memory still holds a whole flush interval after it was put:
new entries are only *marked* unsaved on the hot path; each drain (every ``flush_interval``)
hands the writer, as one batch, the keys put during the interval *before* the last one
(no per-entry work on the event loop), and the writer's thread looks each up in memory as
it writes — one the LRU evicted (or that was replaced or erased) by then is never written.
An entry the LRU lets go within its first interval could only have warmed a restart with
an answer the running cache itself had already given up on; the entries that keep getting
hits stay in memory and are written. So the store's work follows what the cache keeps, not
the miss rate: a cache churning through more than ``max_entries`` entries per interval
(every prompt new) writes nothing for that churn, where writing each survivor of one
interval cost ~0.55 rows per miss at 3,600 misses/s (an upsert now, a trimmed delete
later). The table is trimmed to the newest ``max_entries`` rows after each batch (older
ones would never be loaded). A flush and a shutdown write every entry memory holds, young
ones included; a crash (SIGKILL) loses at most the entries of the last two intervals — a
cache is an optimisation.
With several workers, each keeps its own memory and they share the table; the shared
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

FLUSH_INTERVAL_S = 5.0
_MAX_PENDING_BATCHES = 8  # key batches (one per drain) the writer keeps while the store is slow


class EmbeddedCache:
    def __init__(
        self,
        *,
        max_entries: int,
        max_candidates: int,
        repository: CacheRepository | None = None,
        flush_interval: float = FLUSH_INTERVAL_S,
    ) -> None:
        # Keys memory still holds that are not in the table yet, insertion-ordered (a batch is written
        # oldest first): put since the last drain (``_unsaved``), and put in the interval before it
        # (``_held``: the next drain writes them). The LRU removes a key from both when it lets go.
        self._unsaved: dict[str, None] = {}
        self._held: dict[str, None] = {}
        self.memory = MemoryCache(max_entries=max_entries, max_candidates=max_candidates, on_drop=self._forget)
        self._repository = repository
        self._max_entries = max_entries
        # The writer's items are key batches, one per drain. The cache is an optimisation: a batch
        # that cannot be written (a store outage) stays in memory only, and the store catches up
        # with new ones; a writer stuck that long keeps at most a few batches.
        policy = WriterPolicy(
            name="cache", capacity=_MAX_PENDING_BATCHES, batch_size=_MAX_PENDING_BATCHES, flush_interval=flush_interval,
            on_full="drop", on_unavailable="drop",
        )
        self._writer: WriteBehind[dict[str, None]] | None = (
            WriteBehind(self._write, policy, before_drain=self._hand_over) if repository is not None else None
        )

    # -- CacheBackend -------------------------------------------------------------------
    async def get(self, key: str, now: float) -> CacheEntry | None:
        return self.memory.get(key, now)

    async def nearest(self, scope: str, params: str, vector: bytes, threshold: float, now: float) -> CacheHit | None:
        return self.memory.nearest(scope, params, vector, threshold, now)

    async def put(self, entry: CacheEntry) -> None:
        self.memory.put(entry)
        if self._writer is not None:
            self._unsaved[entry.key] = None

    async def erase(self, callers: Sequence[str]) -> int:
        wanted = set(callers)
        if not wanted:
            return 0
        erased = self.memory.erase(lambda entry: entry.caller in wanted)
        stored = 0
        if self._repository is not None and self._writer is not None:
            # Queued keys need no discarding: the writer looks entries up in memory as it
            # writes, and these are gone from it. A batch already on its way lands first, then goes.
            async with self._writer.exclusive():
                stored = await asyncio.to_thread(self._repository.erase, sorted(wanted))
        return max(len(erased), stored)

    def _forget(self, key: str) -> None:
        self._unsaved.pop(key, None)
        self._held.pop(key, None)

    def _hand_over(self, everything: bool) -> None:
        """Before each drain, on the event loop: as one batch, the keys held through a whole
        interval (a periodic drain) or every unsaved key (``everything``: a flush, a shutdown)."""
        if self._writer is None:
            return
        if everything:
            keys = self._held | self._unsaved  # never in both: a put again is forgotten first
            self._held, self._unsaved = {}, {}
        else:
            keys, self._held, self._unsaved = self._held, self._unsaved, {}
        if keys:
            self._writer.submit(keys)

    def _write(self, batches: Sequence[dict[str, None]]) -> None:
        """The writer's sink, in a worker thread: the entries memory still holds under the batches'
        keys, then the table cut to what a start loads. ``peek`` is one dict read of the LRU,
        atomic under the GIL while the event loop changes it."""
        assert self._repository is not None
        peek = self.memory.peek
        entries = [entry for keys in batches for key in keys if (entry := peek(key)) is not None]
        if entries:
            self._repository.put_many(entries)
            self._repository.trim(self._max_entries)

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
