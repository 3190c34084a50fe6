"""The in-process LRU: freshness, staleness, eviction, and the semantic nearest neighbour."""

from __future__ import annotations

import numpy as np

from headway.cache.base import CacheEntry
from headway.cache.memory import MemoryCache


def vector(*values: float) -> bytes:
    array = np.asarray(values, dtype="<f4")
    return (array / np.linalg.norm(array)).astype("<f4").tobytes()


def entry(key: str, *, expires: float = 100.0, stale: float = 200.0, vec: bytes | None = None, params: str = "p") -> CacheEntry:
    return CacheEntry(key, "global", params, "chat", "c", None, b'{"id": "%s"}' % key.encode(), 0.0, expires, stale, vec)


def test_entries_are_usable_until_stale_until_then_gone() -> None:
    cache = MemoryCache(max_entries=10, max_candidates=10)
    cache.put(entry("a"))
    assert cache.get("a", 150.0) is not None  # past expires_at, still stale-usable
    assert cache.get("a", 200.0) is None
    assert len(cache) == 0


def test_least_recently_used_is_evicted_first() -> None:
    cache = MemoryCache(max_entries=2, max_candidates=10)
    cache.put(entry("a"))
    cache.put(entry("b"))
    cache.get("a", 0.0)
    cache.put(entry("c"))
    assert cache.get("b", 0.0) is None
    assert cache.get("a", 0.0) is not None and cache.get("c", 0.0) is not None


def test_nearest_returns_the_most_similar_fresh_entry_above_the_threshold() -> None:
    cache = MemoryCache(max_entries=10, max_candidates=10)
    cache.put(entry("north", vec=vector(1, 0, 0)))
    cache.put(entry("mostly-north", vec=vector(1, 0.2, 0)))
    cache.put(entry("east", vec=vector(0, 1, 0)))
    hit = cache.nearest("global", "p", vector(1, 0.05, 0), 0.9, 0.0)
    assert hit is not None and hit.entry.key == "north" and hit.kind == "semantic"
    assert 0.9 < hit.similarity <= 1.0
    assert cache.nearest("global", "p", vector(0, 0, 1), 0.9, 0.0) is None  # nothing similar enough
    assert cache.nearest("global", "other-params", vector(1, 0, 0), 0.9, 0.0) is None
    assert cache.nearest("global", "p", vector(1, 0, 0), 0.9, 150.0) is None  # expired: exact/stale only


def test_semantic_groups_follow_eviction_and_are_bounded() -> None:
    cache = MemoryCache(max_entries=2, max_candidates=10)
    cache.put(entry("a", vec=vector(1, 0)))
    cache.put(entry("b", vec=vector(0, 1)))
    cache.put(entry("c", vec=vector(0, 1)))  # evicts "a"
    assert cache.nearest("global", "p", vector(1, 0), 0.99, 0.0) is None
    small = MemoryCache(max_entries=10, max_candidates=1)
    small.put(entry("x", vec=vector(1, 0)))
    small.put(entry("y", vec=vector(0, 1)))  # pushes "x" out of the candidates
    assert small.nearest("global", "p", vector(1, 0), 0.99, 0.0) is None


def test_erase_by_predicate() -> None:
    cache = MemoryCache(max_entries=10, max_candidates=10)
    cache.put(entry("a", vec=vector(1, 0)))
    cache.put(entry("b"))
    assert cache.erase(lambda e: e.key == "a") == ["a"]
    assert cache.get("a", 0.0) is None and cache.get("b", 0.0) is not None
    assert cache.nearest("global", "p", vector(1, 0), 0.5, 0.0) is None
