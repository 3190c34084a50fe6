"""The in-process cache: an LRU of entries, plus per-group vector matrices for the semantic lookup.

Bounded by ``max_entries`` (least recently used evicted first) and, per semantic group,
by ``max_candidates`` (oldest vectors dropped). Entries past ``stale_until`` are dropped
when met. Single-threaded by design: it lives on the event loop and takes no locks.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from headway.cache.base import CacheEntry, CacheHit

if TYPE_CHECKING:
    import numpy as np


class _Group:
    """The vectors of one (scope, parameters) group; the matrix is rebuilt lazily after changes."""

    __slots__ = ("_matrix", "keys", "vectors")

    def __init__(self) -> None:
        self.keys: list[str] = []
        self.vectors: list[np.ndarray] = []
        self._matrix: np.ndarray | None = None

    def add(self, key: str, vector: np.ndarray, limit: int) -> None:
        self.keys.append(key)
        self.vectors.append(vector)
        if len(self.keys) > limit:
            del self.keys[0], self.vectors[0]
        self._matrix = None

    def remove(self, key: str) -> None:
        try:
            index = self.keys.index(key)
        except ValueError:
            return
        del self.keys[index], self.vectors[index]
        self._matrix = None

    def best(self, query: np.ndarray) -> tuple[str, float] | None:
        if not self.keys:
            return None
        import numpy as np  # loaded with the first semantic vector, not at start-up

        if self._matrix is None:
            self._matrix = np.vstack(self.vectors)
        scores = self._matrix @ query
        index = int(np.argmax(scores))
        return self.keys[index], float(scores[index])


def as_vector(blob: bytes) -> np.ndarray:
    import numpy as np

    return np.frombuffer(blob, dtype="<f4")


class MemoryCache:
    def __init__(
        self, *, max_entries: int, max_candidates: int, on_drop: Callable[[str], object] | None = None
    ) -> None:
        self._entries: OrderedDict[str, CacheEntry] = OrderedDict()
        self._groups: dict[str, _Group] = {}
        self._max_entries = max_entries
        self._max_candidates = max_candidates
        self._on_drop = on_drop  # told the key of every entry evicted, expired, replaced or erased

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str, now: float) -> CacheEntry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.stale_until <= now:
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return entry

    def peek(self, key: str) -> CacheEntry | None:
        """The entry under ``key`` as held, whatever its age, without touching its LRU place."""
        return self._entries.get(key)

    def nearest(self, scope: str, params: str, vector: bytes, threshold: float, now: float) -> CacheHit | None:
        group = self._groups.get(f"{scope}\x00{params}")
        if group is None:
            return None
        found = group.best(as_vector(vector))
        if found is None or found[1] < threshold:
            return None
        entry = self.get(found[0], now)
        if entry is None or entry.expires_at <= now:
            return None
        return CacheHit(entry, "semantic", round(found[1], 6))

    def put(self, entry: CacheEntry) -> None:
        entries, key = self._entries, entry.key
        if key in entries:
            self._drop(key)
        entries[key] = entry
        if entry.vector is not None:
            group_key = f"{entry.scope}\x00{entry.params}"
            group = self._groups.get(group_key)
            if group is None:
                group = self._groups[group_key] = _Group()
            group.add(key, as_vector(entry.vector), self._max_candidates)
        while len(entries) > self._max_entries:  # full: one out per miss, inline (the hot case)
            old_key, old = entries.popitem(last=False)
            self._dropped(old_key, old)

    def erase(self, match: Callable[[CacheEntry], bool]) -> list[str]:
        keys = [key for key, entry in self._entries.items() if match(entry)]
        for key in keys:
            self._drop(key)
        return keys

    def entries(self) -> Iterable[CacheEntry]:
        return self._entries.values()

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._dropped(key, entry)

    def _dropped(self, key: str, entry: CacheEntry) -> None:
        if self._on_drop is not None:
            self._on_drop(key)
        if entry.vector is None:
            return
        group_key = f"{entry.scope}\x00{entry.params}"
        group = self._groups.get(group_key)
        if group is not None:
            group.remove(key)
            if not group.keys:
                del self._groups[group_key]
