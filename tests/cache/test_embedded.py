"""The embedded backend: entries survive a restart through the store, and erasure reaches both copies."""

from __future__ import annotations

import asyncio

import orjson

from headway.auth.erasure import Subject
from headway.cache.base import CacheEntry
from headway.cache.embedded import EmbeddedCache
from headway.cache.persist import CacheRepository
from headway.cache.stage import CacheStage, ModelCache
from headway.config.resilience import CacheConfig
from headway.store.sql import SqlStore


def store(url: str) -> SqlStore:
    """SQLite, or PostgreSQL under HEADWAY_TEST_STORE=postgresql (the ``store_url`` fixture)."""
    sql = SqlStore(url)
    sql.migrate()
    return sql


def entry(key: str, caller: str, *, now: float = 1e12, vector: bytes | None = None) -> CacheEntry:
    return CacheEntry(key, f"caller:{caller}", "p", "chat", caller, None, orjson.dumps({"id": key}), now, now + 60, now + 120, vector)


def backend(sql: SqlStore) -> EmbeddedCache:
    return EmbeddedCache(max_entries=100, max_candidates=10, repository=CacheRepository(sql.database), flush_interval=3600)


async def test_entries_written_behind_are_loaded_by_the_next_process(store_url: str) -> None:
    sql = store(store_url)
    first = backend(sql)
    await first.start()
    await first.put(entry("k1", "alice"))
    await first.put(entry("k2", "bob", vector=b"\x00\x00\x80?"))
    await first.close()  # flushes what is queued
    second = backend(sql)
    await second.start()
    loaded = await second.get("k2", 1e12)
    assert loaded is not None and loaded.answer() == {"id": "k2"} and loaded.vector == b"\x00\x00\x80?"
    assert await second.get("k1", 1e12) is not None
    await second.close()


async def test_a_key_written_again_in_a_later_batch_holds_the_newer_answer(store_url: str) -> None:
    sql = store(store_url)
    first = backend(sql)
    await first.start()
    await first.put(entry("k1", "alice"))
    await first.flush()
    newer = entry("k1", "alice", now=2e12)
    newer.body = orjson.dumps({"id": "k1", "choices": [{"message": {"content": "newer"}}]})
    await first.put(newer)
    await first.close()
    rows = CacheRepository(sql.database).load(0.0, 10)
    assert [(row.key, row.created_at, row.answer()["choices"]) for row in rows] == [
        ("k1", 2e12, [{"message": {"content": "newer"}}])
    ]


async def test_expired_entries_are_purged_at_start(store_url: str) -> None:
    sql = store(store_url)
    old = backend(sql)
    await old.start()
    await old.put(entry("gone", "alice", now=1.0))  # stale_until long past
    await old.close()
    fresh = backend(sql)
    await fresh.start()
    assert await fresh.get("gone", 1e12) is None
    assert CacheRepository(sql.database).load(0.0, 10) == []
    await fresh.close()


async def test_erasure_hook_removes_a_subjects_entries_everywhere(store_url: str) -> None:
    sql = store(store_url)
    cache = backend(sql)
    stage = CacheStage(CacheConfig(enabled=True), cache, {"chat": ModelCache(ttl_s=60, semantic=False)})
    await stage.start()
    await cache.put(entry("a1", "alice"))
    await cache.put(entry("b1", "bob"))
    await cache.flush()
    await cache.put(entry("a2", "alice"))  # still queued for the store
    erased = await asyncio.to_thread(stage.erasure_hook(), Subject(id="alice", pseudonym="pseudo-alice"))
    assert erased == 2
    assert await cache.get("a1", 1e12) is None and await cache.get("a2", 1e12) is None
    assert await cache.get("b1", 1e12) is not None
    await stage.close()
    callers = {e.caller for e in CacheRepository(sql.database).load(0.0, 10)}
    assert callers == {"bob"}  # nothing of alice's reached or stayed in the store


def counting(repository: CacheRepository) -> list[list[str]]:
    """The keys of each batch ``put_many`` is given, as the writer gives them."""
    written: list[list[str]] = []
    put_many = repository.put_many
    repository.put_many = lambda entries: (written.append([e.key for e in entries]), put_many(entries))[1]  # type: ignore[method-assign]
    return written


async def counted_cache(store_url: str, max_entries: int) -> tuple[EmbeddedCache, CacheRepository, list[list[str]]]:
    """A started cache over the test's store, its writer's batches counted (``counting``)."""
    repository = CacheRepository(store(store_url).database)
    written = counting(repository)
    cache = EmbeddedCache(max_entries=max_entries, max_candidates=10, repository=repository, flush_interval=3600)
    await cache.start()
    return cache, repository, written


async def test_only_what_memory_still_holds_at_a_drain_is_written(store_url: str) -> None:
    """A cache churning faster than it can hold (every prompt new) writes what it holds, not every miss."""
    small, repository, written = await counted_cache(store_url, 3)
    for i in range(10):  # k0..k6 are evicted before the drain
        await small.put(entry(f"k{i}", "alice", now=1e12 + i))
    await small.flush()
    assert written == [["k7", "k8", "k9"]]
    assert [row.key for row in repository.load(0.0, 100)] == ["k7", "k8", "k9"]
    await small.put(entry("k10", "alice", now=1e12 + 10))  # evicts k7, already in the store
    await small.flush()
    assert written == [["k7", "k8", "k9"], ["k10"]]
    await small.close()


async def periodic_drain(cache: EmbeddedCache) -> None:
    """What the writer's loop does every ``flush_interval`` (a flush writes everything instead)."""
    assert cache._writer is not None
    await cache._writer._drain(everything=False, raise_errors=True)


async def test_a_periodic_drain_writes_an_entry_once_memory_has_held_it_a_whole_interval(store_url: str) -> None:
    cache, repository, written = await counted_cache(store_url, 10)
    await cache.put(entry("k1", "alice"))
    await periodic_drain(cache)  # k1 was put during this interval: not yet
    assert written == [] and repository.load(0.0, 10) == []
    await cache.put(entry("k2", "alice", now=1e12 + 1))
    await periodic_drain(cache)  # k1 has been held a whole interval; k2 not yet
    assert written == [["k1"]]
    await cache.put(entry("k3", "alice", now=1e12 + 2))
    await cache.close()  # a shutdown writes every entry memory holds, the young ones too
    assert written == [["k1"], ["k2", "k3"]]
    assert [row.key for row in repository.load(0.0, 10)] == ["k1", "k2", "k3"]


async def test_a_cache_churning_within_one_interval_writes_nothing_for_the_churn(store_url: str) -> None:
    """Every prompt new, more than ``max_entries`` per interval: the entries are gone before they
    would be written, so the store does no work for them (it did ~0.55 rows per miss before)."""
    small, _, written = await counted_cache(store_url, 3)
    for interval in range(3):
        for i in range(10):
            await small.put(entry(f"i{interval}-{i}", "alice", now=1e12 + interval * 10 + i))
        await periodic_drain(small)
    assert written == []
    hot = await small.get("i2-9", 1e12)  # a hit keeps an entry in memory, so it outlives the churn
    assert hot is not None
    for i in range(2):
        await small.put(entry(f"i3-{i}", "alice", now=1e12 + 30 + i))
    await periodic_drain(small)
    assert written == [["i2-9"]]
    await small.close()
    assert written == [["i2-9"], ["i3-0", "i3-1"]]


async def test_an_entry_evicted_or_erased_while_held_is_never_written(store_url: str) -> None:
    sql = store(store_url)
    repository = CacheRepository(sql.database)
    written = counting(repository)
    cache = EmbeddedCache(max_entries=2, max_candidates=10, repository=repository, flush_interval=3600)
    stage = CacheStage(CacheConfig(enabled=True), cache, {"chat": ModelCache(ttl_s=60, semantic=False)})
    await stage.start()
    await cache.put(entry("a1", "alice"))
    await cache.put(entry("b1", "bob"))
    await periodic_drain(cache)  # both held now, written at the next drain
    await cache.put(entry("c1", "carol"))  # evicts a1
    assert await asyncio.to_thread(stage.erasure_hook(), Subject(id="bob", pseudonym="pseudo-bob")) == 1
    await periodic_drain(cache)
    assert written == []
    await stage.close()
    assert written == [["c1"]]
    assert [row.key for row in repository.load(0.0, 10)] == ["c1"]


async def test_the_table_keeps_only_the_newest_entries_a_start_would_load(store_url: str) -> None:
    sql = store(store_url)
    repository = CacheRepository(sql.database)
    first = EmbeddedCache(max_entries=3, max_candidates=10, repository=repository, flush_interval=3600)
    await first.start()
    for batch in range(3):  # three drains of two entries each: six rows written, three kept
        for i in range(2):
            await first.put(entry(f"b{batch}-{i}", "alice", now=1e12 + batch * 10 + i))
        await first.flush()
    await first.close()
    assert [row.key for row in repository.load(0.0, 100)] == ["b1-1", "b2-0", "b2-1"]
    second = EmbeddedCache(max_entries=3, max_candidates=10, repository=repository, flush_interval=3600)
    await second.start()
    assert [key for key in ("b1-1", "b2-0", "b2-1") if await second.get(key, 1e12) is not None] == ["b1-1", "b2-0", "b2-1"]
    await second.close()


async def test_an_entry_replaced_or_erased_before_the_drain_is_written_as_it_stands(store_url: str) -> None:
    sql = store(store_url)
    repository = CacheRepository(sql.database)
    cache = backend(sql)
    await cache.start()
    await cache.put(entry("k1", "alice"))
    newer = entry("k1", "alice", now=2e12)
    newer.body = orjson.dumps({"id": "newer"})
    await cache.put(newer)
    await cache.put(entry("k2", "bob"))
    assert await cache.erase(["bob"]) == 1
    await cache.close()
    assert [(row.key, row.answer()) for row in repository.load(0.0, 100)] == [("k1", {"id": "newer"})]
