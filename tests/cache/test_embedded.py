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
