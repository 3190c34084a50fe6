"""The response cache shared by every replica: Redis behind each replica's own cache.

Implements ``headway.cache.base.CacheBackend`` around a *local* backend (the embedded
cache: memory, persisted to the store):
- ``get``: the local tier first; on a miss, Redis; what Redis had is kept locally.
- ``nearest`` (semantic): the local tier first; on a miss, the group's vectors from Redis
  (at most ``max_candidates``, newest kept), the best one fetched if it passes the threshold.
- ``put``: the local tier at once; Redis from a background task, so the answer never waits.
- ``erase`` (data-subject erasure): the callers' entries in Redis, the local tier, and a
  message on the ``cache-erase`` channel so every other replica drops them from memory.
While Redis is unreachable the local tier serves alone.

In Redis (under the backend's prefix): ``cache:e:<key>`` the entry (JSON; expires when
it is no longer usable even stale), ``cache:gv:<group>`` (hash key -> vector) and
``cache:gz:<group>`` (key by age) for a semantic group, ``cache:c:<caller>`` the keys
stored for a caller.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import orjson

from headway.backends import Backend, BackendUnavailableError, ChannelListener, FailoverBackend, Subscription
from headway.cache.base import CacheBackend, CacheEntry, CacheHit

if TYPE_CHECKING:
    from headway.backends import RedisBackend

log = logging.getLogger("headway.backends.cache")

ERASE_CHANNEL = "cache-erase"


def _group_id(scope: str, params: str) -> str:
    return hashlib.sha256(f"{scope}\x00{params}".encode()).hexdigest()[:32]


def _dump(entry: CacheEntry) -> bytes:
    data = asdict(entry)
    data["body"] = entry.body.decode()
    data["vector"] = base64.b64encode(entry.vector).decode() if entry.vector is not None else None
    return orjson.dumps(data)


def _load(raw: bytes) -> CacheEntry:
    data: dict[str, Any] = orjson.loads(raw)
    vector = data.get("vector")
    data["vector"] = base64.b64decode(vector) if vector else None
    body = data["body"]
    # Entries written before the body was kept encoded hold it as an object: still readable.
    data["body"] = body.encode() if isinstance(body, str) else orjson.dumps(body)
    return CacheEntry(**data)


class SharedCache:
    def __init__(self, local: CacheBackend, backend: FailoverBackend | RedisBackend, *, max_candidates: int = 256) -> None:
        self.local = local
        self._failover = backend if isinstance(backend, FailoverBackend) else None
        self._redis = backend.primary if isinstance(backend, FailoverBackend) else backend
        self._client = self._redis.client
        self._prefix = f"{self._redis.prefix}cache:"
        self._max_candidates = max_candidates
        self._writes: set[asyncio.Task[None]] = set()
        self._listener: ChannelListener | None = None

    # -- CacheBackend -----------------------------------------------------------------------
    async def get(self, key: str, now: float) -> CacheEntry | None:
        entry = await self.local.get(key, now)
        if entry is not None or not self._usable():
            return entry
        try:
            raw = await self._call(self._client.get(self._prefix + "e:" + key))
        except BackendUnavailableError:
            return None
        if raw is None:
            return None
        entry = _load(raw)
        if entry.stale_until <= now:
            return None
        await self.local.put(entry)
        return entry

    async def nearest(self, scope: str, params: str, vector: bytes, threshold: float, now: float) -> CacheHit | None:
        hit = await self.local.nearest(scope, params, vector, threshold, now)
        if hit is not None or not self._usable():
            return hit
        group = _group_id(scope, params)
        try:
            stored = await self._call(self._client.hgetall(self._prefix + "gv:" + group))
        except BackendUnavailableError:
            return None
        if not stored:
            return None
        import numpy as np  # only with a semantic cache in use

        keys = [k.decode() if isinstance(k, bytes) else str(k) for k in stored]
        matrix = np.vstack([np.frombuffer(v, dtype="<f4") for v in stored.values()])
        scores = matrix @ np.frombuffer(vector, dtype="<f4")
        order = np.argsort(-scores)
        for index in order[:3]:  # the best few: the very best may have expired meanwhile
            if float(scores[index]) < threshold:
                break
            entry = await self.get(keys[int(index)], now)
            if entry is not None and entry.expires_at > now:
                return CacheHit(entry, "semantic", round(float(scores[index]), 6))
        return None

    async def put(self, entry: CacheEntry) -> None:
        await self.local.put(entry)
        if not self._usable():
            return
        task = asyncio.create_task(self._write(entry))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def erase(self, callers: Sequence[str]) -> int:
        wanted = sorted(set(callers))
        if not wanted:
            return 0
        erased_locally = await self.local.erase(wanted)
        erased_shared = 0
        if self._usable():
            with contextlib.suppress(BackendUnavailableError):
                erased_shared = await self._erase_shared(wanted)
                await self._redis.publish(ERASE_CHANNEL, orjson.dumps(wanted))
        return max(erased_locally, erased_shared)

    async def start(self) -> None:
        await self.local.start()
        self._listener = ChannelListener(self._redis, ERASE_CHANNEL, self._follow_erasures, name="headway-cache-erase")

    async def close(self) -> None:
        if self._writes:
            await asyncio.wait(set(self._writes), timeout=5)
        if self._listener is not None:
            await self._listener.close()
        await self.local.close()

    async def flush(self) -> None:
        """Wait for entries on their way to Redis (tests, shutdown)."""
        if self._writes:
            await asyncio.wait(set(self._writes))

    # -- internals --------------------------------------------------------------------------
    def _usable(self) -> bool:
        return self._failover is None or self._failover.healthy

    async def _call(self, awaitable: Any) -> Any:
        try:
            return await self._redis.run(awaitable)
        except BackendUnavailableError as exc:
            if self._failover is not None:
                self._failover.note_failure(exc)
            raise

    async def _write(self, entry: CacheEntry) -> None:
        ttl_ms = max(1, round((entry.stale_until - time.time()) * 1000))
        pipe = self._client.pipeline(transaction=True)
        pipe.set(self._prefix + "e:" + entry.key, _dump(entry), px=ttl_ms)
        caller_keys = self._prefix + "c:" + entry.caller
        pipe.sadd(caller_keys, entry.key)
        pipe.pexpire(caller_keys, ttl_ms, gt=True)
        pipe.pexpire(caller_keys, ttl_ms, nx=True)
        if entry.vector is not None:
            group = _group_id(entry.scope, entry.params)
            pipe.hset(self._prefix + "gv:" + group, entry.key, entry.vector)
            pipe.zadd(self._prefix + "gz:" + group, {entry.key: entry.created_at})
            for suffix in ("gv:", "gz:"):
                pipe.pexpire(self._prefix + suffix + group, ttl_ms, gt=True)
                pipe.pexpire(self._prefix + suffix + group, ttl_ms, nx=True)
        try:
            await self._call(pipe.execute())
            if entry.vector is not None:
                await self._trim(_group_id(entry.scope, entry.params))
        except BackendUnavailableError as exc:
            log.debug("cache entry not shared: %s", exc)

    async def _trim(self, group: str) -> None:
        # Keep the newest max_candidates vectors of a group, as the local tier does.
        excess = await self._call(self._client.zcard(self._prefix + "gz:" + group)) - self._max_candidates
        if excess <= 0:
            return
        oldest = await self._call(self._client.zpopmin(self._prefix + "gz:" + group, excess))
        if oldest:
            await self._call(self._client.hdel(self._prefix + "gv:" + group, *(member for member, _ in oldest)))

    async def _erase_shared(self, callers: Sequence[str]) -> int:
        erased = 0
        for caller in callers:
            keys = [k.decode() for k in await self._call(self._client.smembers(self._prefix + "c:" + caller))]
            if not keys:
                continue
            raws = await self._call(self._client.mget([self._prefix + "e:" + key for key in keys]))
            pipe = self._client.pipeline(transaction=True)
            for key, raw in zip(keys, raws, strict=True):
                if raw is None:
                    continue
                erased += 1
                entry = _load(raw)
                pipe.delete(self._prefix + "e:" + key)
                if entry.vector is not None:
                    group = _group_id(entry.scope, entry.params)
                    pipe.hdel(self._prefix + "gv:" + group, key)
                    pipe.zrem(self._prefix + "gz:" + group, key)
            pipe.delete(self._prefix + "c:" + caller)
            await self._call(pipe.execute())
        return erased

    async def _follow_erasures(self, subscription: Subscription) -> None:
        async for message in subscription:
            with contextlib.suppress(ValueError, TypeError):
                callers = orjson.loads(message)
                await self.local.erase([str(c) for c in callers])


def shared_cache(local: CacheBackend | None, backend: Backend, *, max_candidates: int) -> CacheBackend | None:
    """The cache backend to use: ``local`` behind Redis when the backend is Redis, else ``local``."""
    if local is None or not isinstance(backend, FailoverBackend):
        return local
    return SharedCache(local, backend, max_candidates=max_candidates)
