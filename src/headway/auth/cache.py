"""A bounded, TTL'd in-memory cache of verified credentials.

Keyed by a credential's SHA-256 (never the credential), so one dict lookup answers the
hot path. Entries remember which key they came from, so revoking a key drops every
entry it produced at once; expiry is checked on read, eviction is least-recently-added.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Generic, TypeVar

V = TypeVar("V")


@dataclass(slots=True)
class _Entry(Generic[V]):
    value: V
    expires: float  # monotonic
    owner: str | None


class TtlCache(Generic[V]):
    def __init__(self, *, ttl: float, max_entries: int = 100_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: OrderedDict[bytes, _Entry[V]] = OrderedDict()
        self._by_owner: dict[str, set[bytes]] = {}

    def get(self, key: bytes, now: float | None = None) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires <= (time.monotonic() if now is None else now):
            self._drop(key)
            return None
        return entry.value

    def put(self, key: bytes, value: V, *, owner: str | None = None, ttl: float | None = None) -> None:
        ttl = self.ttl if ttl is None else min(ttl, self.ttl)
        if ttl <= 0:
            return
        if key in self._entries:
            self._drop(key)
        while len(self._entries) >= self.max_entries:
            self._drop(next(iter(self._entries)))
        self._entries[key] = _Entry(value, time.monotonic() + ttl, owner)
        if owner is not None:
            self._by_owner.setdefault(owner, set()).add(key)

    def invalidate_owner(self, owner: str) -> int:
        keys = self._by_owner.pop(owner, set())
        for key in keys:
            self._entries.pop(key, None)
        return len(keys)

    def clear(self) -> None:
        self._entries.clear()
        self._by_owner.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def _drop(self, key: bytes) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None and entry.owner is not None:
            owned = self._by_owner.get(entry.owner)
            if owned is not None:
                owned.discard(key)
                if not owned:
                    del self._by_owner[entry.owner]
