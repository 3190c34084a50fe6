"""Redis goes away: decisions fall back to local state at once, and return to Redis by themselves."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import pytest

from headway.backends import BudgetCharge, FailoverBackend, RedisBackend, WindowCharge
from headway.cli.replicas import RedisServer

pytestmark = pytest.mark.redis


@pytest.fixture
def private_redis() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


async def eventually(check: Callable[[], bool], within_s: float = 15.0) -> None:
    deadline = time.monotonic() + within_s
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


def backend_on(server: RedisServer, share: float = 1.0) -> FailoverBackend:
    primary = RedisBackend(server.url, key_prefix="hw:", timeout_s=0.2, reconnect_s=0.1)
    return FailoverBackend(primary, share=share, probe_interval_s=0.1)


async def test_decisions_fall_back_to_local_limits_and_return_to_redis(private_redis: RedisServer) -> None:
    backend = backend_on(private_redis, share=0.5)
    await backend.start()
    charge = WindowCharge("rl:model:chat:requests", limit=10, window_s=60, cost=1)
    assert (await backend.take_window([charge], "before")).admitted
    assert backend.healthy

    private_redis.stop()
    # Half of the limit while alone: five requests, the sixth refused, and no error raised.
    outcomes = [(await backend.take_window([charge], f"down-{i}")).admitted for i in range(6)]
    assert outcomes == [True] * 5 + [False]
    state = backend.describe()
    assert state["state"] == "degraded" and state["ok"] is True and backend.stats.failovers == 1
    assert "redis" in (state["last_error"] or "")

    private_redis.start()
    await eventually(lambda: backend.healthy)
    after = await backend.take_window([charge], "after")
    # Back on Redis, which restarted empty: the outage's local counts did not follow.
    assert after.admitted and after.states[0].used == 1
    assert backend.stats.recoveries == 1
    await backend.close()


async def test_by_default_each_replica_takes_its_share_of_the_replicas_it_saw(private_redis: RedisServer) -> None:
    replicas = [
        FailoverBackend(RedisBackend(private_redis.url, key_prefix="hw:", timeout_s=0.2), probe_interval_s=0.1, heartbeat_s=0.05)
        for _ in range(2)
    ]
    for backend in replicas:
        await backend.start()
    await eventually(lambda: all(b.replicas == 2 for b in replicas))
    assert [b.share for b in replicas] == [0.5, 0.5]
    private_redis.stop()
    charge = WindowCharge("rl:model:chat:requests", limit=10, window_s=60, cost=1)
    admitted = [sum([(await b.take_window([charge], f"{i}-{n}")).admitted for n in range(8)]) for i, b in enumerate(replicas)]
    assert admitted == [5, 5]  # ten in total, as the limit says
    for backend in replicas:
        await backend.close()


async def test_spend_settled_during_an_outage_reaches_redis_when_it_returns(private_redis: RedisServer) -> None:
    backend = backend_on(private_redis)
    await backend.start()
    charge = BudgetCharge("budget:team:ml:2026-11", cap=1_000, amount=100, expires_at=None)
    await backend.seed_budget(charge.key, 0, None)
    assert (await backend.reserve_budget([charge], "r1", 60)).admitted

    # Redis stays up but stops answering in time: a pause, not a restart, so it keeps its data.
    pause = await asyncio.create_subprocess_exec(
        "redis-cli", "-p", str(private_redis.port), "CLIENT", "PAUSE", "1500", "ALL",
        stdout=asyncio.subprocess.DEVNULL,
    )
    await pause.wait()
    await backend.settle_budget([charge], "r1", 70)
    assert not backend.healthy
    await eventually(lambda: backend.healthy)
    await backend.seed_budget(charge.key, 0, None)  # already seeded: a no-op
    check = await backend.reserve_budget([BudgetCharge(charge.key, 1_000, 930, None)], "r2", 60)
    # 70 replayed as spend; r1's reservation of 100 still counts until it lapses.
    assert check.states[0].spent == 70 and not check.admitted
    assert backend.stats.replayed_spend_nano == 70
    await backend.close()


async def test_subscriptions_resume_after_redis_restarts(private_redis: RedisServer) -> None:
    backend = backend_on(private_redis)
    await backend.start()
    subscription = backend.subscribe("wake")
    await asyncio.sleep(0.3)
    private_redis.stop()
    await backend.publish("wake", b"local-only")  # degraded: delivered on this replica only
    assert await asyncio.wait_for(subscription.get(), 5) == b"local-only"
    private_redis.start()
    await eventually(lambda: backend.healthy)
    deadline = time.monotonic() + 15
    received = None
    while received is None and time.monotonic() < deadline:
        # Re-subscription happens in the background: publish until it is back.
        await backend.publish("wake", b"global")
        try:
            received = await asyncio.wait_for(subscription.get(), 0.3)
        except TimeoutError:
            continue
    assert received == b"global"
    subscription.close()
    await backend.close()


async def test_a_burst_that_starves_the_pool_is_not_an_outage_and_the_limit_stays_exact(private_redis: RedisServer) -> None:
    # Two pooled connections for 300 concurrent decisions: requests wait for a connection;
    # the replica never leaves Redis, so a limit of 60 admits exactly 60.
    primary = RedisBackend(private_redis.url, key_prefix="hw:", timeout_s=0.2, max_connections=2, pool_timeout_s=5)
    backend = FailoverBackend(primary, probe_interval_s=0.1, share=0.25)
    await backend.start()
    charge = WindowCharge("rl:model:burst:requests", limit=60, window_s=60, cost=1)
    decisions = await asyncio.gather(*(backend.take_window([charge], f"m{i}") for i in range(300)))
    assert sum(d.admitted for d in decisions) == 60
    assert backend.healthy and backend.stats.failovers == 0 and backend.stats.fallback_decisions == 0
    await backend.close()


async def test_a_paused_redis_that_answers_a_fresh_ping_is_retried_not_failed_over(private_redis: RedisServer) -> None:
    backend = backend_on(private_redis)
    await backend.start()
    charge = WindowCharge("rl:model:pause:requests", limit=5, window_s=60, cost=1)
    # The command times out (0.2 s) in a 0.3 s pause of writes; a fresh PING is answered, so the
    # command is retried (and lands once the pause ends) instead of failing over.
    pause = await asyncio.create_subprocess_exec(
        "redis-cli", "-p", str(private_redis.port), "CLIENT", "PAUSE", "300", "WRITE", stdout=asyncio.subprocess.DEVNULL
    )
    await pause.wait()
    decision = await backend.take_window([charge], "during-pause")
    assert decision.admitted and backend.healthy and backend.stats.failovers == 0
    await backend.close()


async def test_alone_each_replica_spends_only_its_share_of_what_was_left_of_a_budget(private_redis: RedisServer) -> None:
    replicas = [backend_on(private_redis, share=0.5) for _ in range(2)]
    for backend in replicas:
        await backend.start()
    private_redis.stop()
    key = "budget:key:app:2026-12"
    spent_before = 200
    admitted = []
    for index, backend in enumerate(replicas):
        await backend.seed_budget(key, spent_before, None)  # both read 200 spent from the request log
        count = 0
        for n in range(20):
            decision = await backend.reserve_budget([BudgetCharge(key, cap=1_000, amount=100, expires_at=None)], f"{index}-{n}", 60)
            if decision.admitted:
                count += 1
                await backend.settle_budget([BudgetCharge(key, cap=1_000, amount=100, expires_at=None)], f"{index}-{n}", 100)
        admitted.append(count)
    # 800 was left: each replica alone may spend half of it, so together they stay within the cap.
    assert admitted == [4, 4]
    assert spent_before + 100 * sum(admitted) <= 1_000
    for backend in replicas:
        await backend.close()
