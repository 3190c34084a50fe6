"""The cache interface: what the serving stage needs from any backend.

``embedded.py`` implements it in process (an LRU, persisted to the store); a shared
(Redis) backend implements the same methods for many replicas. Methods are ``async``
so that backend can do I/O; the in-process one never suspends on the hot path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import orjson

from headway.types import JSON


@dataclass(slots=True)
class CacheEntry:
    key: str  # exact key (``keys.exact_key``)
    scope: str  # "caller:<id>" | "team:<id>" | "global"
    params: str  # ``keys.params_key``: the semantic group
    model: str
    caller: str
    team: str | None
    # The chat.completion as it was answered, JSON-encoded: an LRU of parsed answers (a dozen
    # objects each) made every full garbage collection walk them; bytes cost it nothing.
    body: bytes
    created_at: float  # epoch seconds
    expires_at: float  # fresh until then
    stale_until: float  # usable for stale-if-error until then
    vector: bytes | None = None  # unit-norm float32 (little-endian) embedding of the prompt, semantic only

    def answer(self) -> JSON:
        """The cached chat.completion, parsed anew for each use (callers may change it)."""
        answer: JSON = orjson.loads(self.body)
        return answer


@dataclass(slots=True)
class CacheHit:
    entry: CacheEntry
    kind: Literal["exact", "semantic"]
    similarity: float = 1.0


class CacheBackend(Protocol):
    async def get(self, key: str, now: float) -> CacheEntry | None:
        """The entry under ``key`` if it is still usable (fresh or stale); the caller checks which."""
        ...

    async def nearest(self, scope: str, params: str, vector: bytes, threshold: float, now: float) -> CacheHit | None:
        """The most similar fresh entry of the group at or above ``threshold`` (cosine), if any."""
        ...

    async def put(self, entry: CacheEntry) -> None: ...

    async def erase(self, callers: Sequence[str]) -> int:
        """Forget every entry stored for these callers (data-subject erasure); returns how many."""
        ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...
