"""The response cache shared through Redis: one replica's answer serves another; erasure reaches all."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import orjson
import pytest

from headway.backends import FailoverBackend, RedisBackend
from headway.cache.base import CacheEntry
from headway.cache.embedded import EmbeddedCache
from headway.cache.shared_cache import ERASE_CHANNEL, SharedCache
from headway.cli.replicas import RedisServer
from tests.scale.services import SHARED_REDIS, redis_prefix, until_subscribed

pytestmark = pytest.mark.redis


def unit(*values: float) -> bytes:
    vector = np.array(values, dtype="<f4")
    return (vector / np.linalg.norm(vector)).astype("<f4").tobytes()


def entry(key: str, caller: str, vector: bytes | None = None, ttl: float = 60) -> CacheEntry:
    now = time.time()
    return CacheEntry(
        key=key, scope=f"caller:{caller}", params="p", model="chat", caller=caller, team=None,
        body=orjson.dumps({"id": key, "choices": []}), created_at=now, expires_at=now + ttl, stale_until=now + 2 * ttl, vector=vector,
    )


def replica(prefix: str, url: str = SHARED_REDIS) -> SharedCache:
    return SharedCache(EmbeddedCache(max_entries=100, max_candidates=10), RedisBackend(url, key_prefix=prefix, timeout_s=2))


async def written(cache: SharedCache) -> None:
    if cache._writes:
        await asyncio.wait(set(cache._writes))


def test_an_entry_written_with_its_body_as_an_object_is_still_read() -> None:
    from headway.cache.shared_cache import _dump, _load

    current = entry("k1", "alice")
    assert _load(_dump(current)) == current
    older = orjson.loads(_dump(current))
    older["body"] = {"id": "k1", "choices": []}  # how entries were kept before the body stayed encoded
    assert _load(orjson.dumps(older)).answer() == {"id": "k1", "choices": []}


async def test_an_answer_cached_by_one_replica_serves_the_others() -> None:
    with redis_prefix() as prefix:
        a, b = replica(prefix), replica(prefix)
        await a.start()
        await b.start()
        await a.put(entry("k1", "alice"))
        await a.put(entry("k2", "alice", vector=unit(1, 0, 0)))
        await written(a)
        now = time.time()
        got = await b.get("k1", now)
        assert got is not None and got.answer() == {"id": "k1", "choices": []}
        assert await b.local.get("k1", now) is not None  # kept locally from now on
        hit = await b.nearest("caller:alice", "p", unit(0.99, 0.1, 0), 0.9, now)
        assert hit is not None and hit.entry.key == "k2" and hit.kind == "semantic" and hit.similarity > 0.9
        assert await b.nearest("caller:alice", "p", unit(0, 1, 0), 0.9, now) is None
        await a.close()
        await b.close()


async def test_erasing_a_caller_on_one_replica_erases_it_everywhere() -> None:
    with redis_prefix() as prefix:
        a, b = replica(prefix), replica(prefix)
        await a.start()
        await b.start()
        await until_subscribed(a._client, [f"{prefix}c:{ERASE_CHANNEL}"], at_least=2)  # both replicas
        await a.put(entry("mine", "bob", vector=unit(0, 0, 1)))
        await a.put(entry("theirs", "carol"))
        await written(a)
        assert await b.get("mine", time.time()) is not None  # b holds a local copy too
        assert await b.erase(["bob"]) == 1
        deadline = time.monotonic() + 5
        while await a.local.get("mine", time.time()) is not None:
            assert time.monotonic() < deadline, "the erasure did not reach the other replica"
            await asyncio.sleep(0.02)
        assert await b.get("mine", time.time()) is None
        assert await b.nearest("caller:bob", "p", unit(0, 0, 1), 0.5, time.time()) is None
        assert await a.get("theirs", time.time()) is not None
        await a.close()
        await b.close()


async def test_without_redis_each_replica_serves_from_its_own_cache() -> None:
    with RedisServer() as server:
        backend = FailoverBackend(RedisBackend(server.url, key_prefix="hw:", timeout_s=0.2), probe_interval_s=0.1)
        cache = SharedCache(EmbeddedCache(max_entries=10, max_candidates=10), backend)
        await cache.start()
        server.stop()
        assert await cache.get("absent", time.time()) is None  # Redis failed: a miss, not an error
        deadline = time.monotonic() + 10
        while backend.healthy:  # degraded once a fresh PING confirms the outage
            assert time.monotonic() < deadline, "the outage was never confirmed"
            await asyncio.sleep(0.05)
        await cache.put(entry("k", "dave"))
        assert (await cache.get("k", time.time())) is not None
        await cache.close()
        await backend.close()
