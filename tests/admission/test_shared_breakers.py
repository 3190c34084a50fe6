"""Breakers shared through Redis: replicas open, probe and close one circuit together."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from headway.backends import FailoverBackend, RedisBackend
from headway.cli.replicas import RedisServer
from headway.config.resilience import BreakerConfig
from headway.routing.shared_breakers import SharedBreakers
from tests.scale.services import SHARED_REDIS, redis_prefix

pytestmark = pytest.mark.redis

CONFIG = BreakerConfig(failure_ratio=0.5, window_s=30, min_requests=4, cooldown_s=0.3, half_open_trials=1)


async def eventually(check: Callable[[], object], within_s: float = 10.0) -> None:
    deadline = time.monotonic() + within_s
    while not await check():  # type: ignore[misc]
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def settled(*breakers: SharedBreakers) -> None:
    for breaker in breakers:
        if breaker._pending:
            await asyncio.wait(set(breaker._pending))


async def test_failures_seen_by_one_replica_open_the_circuit_for_all() -> None:
    with redis_prefix() as prefix:
        a = SharedBreakers(RedisBackend(SHARED_REDIS, key_prefix=prefix, timeout_s=2))
        b = SharedBreakers(RedisBackend(SHARED_REDIS, key_prefix=prefix, timeout_s=2))
        for breakers in (a, b):
            breakers.configure("chat/sim/m", CONFIG)
        assert await a.admit("chat/sim/m") == "allow"
        assert await b.admit("chat/sim/m") == "allow"
        for _ in range(2):  # two failures on each replica: 4 of 4 failed across the two
            await a.record("chat/sim/m", False, trial=False)
            await b.record("chat/sim/m", False, trial=False)
        await settled(a, b)
        snapshot = await b.snapshot("chat/sim/m")
        assert snapshot.state == "open" and snapshot.requests == 4 and snapshot.failures == 4

        async def both_reject() -> bool:
            return await a.admit("chat/sim/m") == "reject" and await b.admit("chat/sim/m") == "reject"

        await eventually(both_reject)
        await asyncio.sleep(0.35)  # the cool-down passes: exactly one trial across both replicas
        decisions = [await a.admit("chat/sim/m"), await b.admit("chat/sim/m")]
        assert sorted(decisions) == ["reject", "trial"]
        trial_holder = a if decisions[0] == "trial" else b
        await trial_holder.record("chat/sim/m", True, trial=True)
        await settled(a, b)

        async def both_allow() -> bool:
            return await a.admit("chat/sim/m") == "allow" and await b.admit("chat/sim/m") == "allow"

        await eventually(both_allow)
        for breakers in (a, b):
            await breakers.close()


async def test_without_redis_the_in_process_breakers_decide() -> None:
    with RedisServer() as server:
        backend = FailoverBackend(RedisBackend(server.url, key_prefix="hw:", timeout_s=0.2), probe_interval_s=0.1)
        breakers = SharedBreakers(backend)
        breakers.configure("k", CONFIG)
        server.stop()
        assert await breakers.admit("k") == "allow"  # Redis failed: local answer, no error
        deadline = time.monotonic() + 10
        while backend.healthy:  # degraded once a fresh PING confirms the outage
            assert time.monotonic() < deadline, "the outage was never confirmed"
            await asyncio.sleep(0.05)
        for _ in range(4):
            await breakers.record("k", False, trial=False)
        assert await breakers.admit("k") == "reject"
        assert (await breakers.snapshot("k")).state == "open"
        await breakers.close()
        await backend.close()
