"""The shared-state contract, held to both backends: what replicas rely on."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest

from headway.backends import BudgetCharge, LocalBackend, RedisBackend, WindowCharge
from tests.admission.conftest import FakeClock
from tests.scale.services import SHARED_REDIS, redis_prefix, until_subscribed


async def subscribed(backend: Any, *channels: str) -> None:
    """Until Redis counts a subscriber on each channel (the local backend delivers at once)."""
    client = getattr(backend, "client", None)
    if client is not None:
        await until_subscribed(client, [f"{backend.prefix}c:{channel}" for channel in channels])


async def test_a_window_admits_up_to_its_limit_then_says_when_to_retry(backend: Any) -> None:
    charge = WindowCharge("rl:key:a:requests", limit=3, window_s=60, cost=1)
    decisions = [await backend.take_window([charge], f"m{i}") for i in range(5)]
    assert [d.admitted for d in decisions] == [True, True, True, False, False]
    assert [d.states[0].remaining for d in decisions[:3]] == [2, 1, 0]
    refused = decisions[3].states[0]
    assert not refused.fits and refused.used == 3
    # The oldest request leaves the window first: retry after about its remaining lifetime.
    assert 55 < refused.retry_after_s <= 60
    assert 0 < refused.reset_s <= 60


async def test_several_windows_are_taken_together_or_not_at_all(backend: Any) -> None:
    key = WindowCharge("rl:key:b:requests", limit=10, window_s=60, cost=1)
    team = WindowCharge("rl:team:t:requests", limit=1, window_s=60, cost=1)
    assert (await backend.take_window([key, team], "first")).admitted
    second = await backend.take_window([key, team], "second")
    assert not second.admitted
    assert second.states[0].fits and not second.states[1].fits
    # The refusal did not count against the key's window.
    alone = await backend.take_window([key], "third")
    assert alone.states[0].used == 2


async def test_a_charge_larger_than_its_limit_can_never_fit(backend: Any) -> None:
    decision = await backend.take_window([WindowCharge("rl:key:c:tokens", 100, 60, 101)], "m")
    assert not decision.admitted and math.isinf(decision.states[0].retry_after_s)


async def test_adjusting_a_charge_replaces_the_estimate_with_the_actual(backend: Any) -> None:
    tokens = WindowCharge("rl:key:d:tokens", limit=1000, window_s=60, cost=600)
    assert (await backend.take_window([tokens], "req")).admitted
    assert not (await backend.take_window([WindowCharge(tokens.key, 1000, 60, 500)], "other")).admitted
    await backend.adjust_window([tokens], "req", [120])
    after = await backend.take_window([WindowCharge(tokens.key, 1000, 60, 500)], "other")
    assert after.admitted and after.states[0].used == 620


@pytest.mark.parametrize("kind", ["local", pytest.param("redis", marks=pytest.mark.redis)])
async def test_requests_leave_the_window_after_it_passes(kind: str, clock: FakeClock) -> None:
    # A 1 s window: "c" is refused only while "a" and "b" are still in it, and a stall of a busy
    # host between those calls must not age them out (Redis keeps its own clock).
    charge = WindowCharge("rl:key:e:requests", limit=2, window_s=1.0, cost=1)
    with redis_prefix() as prefix:
        if kind == "local":
            backend: Any = LocalBackend(clock=clock)
        else:
            from headway.backends import RedisBackend

            backend = RedisBackend("redis://127.0.0.1:6379/0", key_prefix=prefix, timeout_s=2)
        for name in ("a", "b"):
            assert (await backend.take_window([charge], name)).admitted
        assert not (await backend.take_window([charge], "c")).admitted
        if kind == "local":
            clock.advance(1.01)
        else:
            await asyncio.sleep(1.3)  # Redis keeps its own clock
        again = await backend.take_window([charge], "d")
        assert again.admitted and again.states[0].used == 1
        await backend.close()


async def test_budgets_reserve_then_settle_and_refuse_past_the_cap(backend: Any) -> None:
    charge = BudgetCharge("budget:key:f:2026-11", cap=1000, amount=300, expires_at=None)
    first = await backend.reserve_budget([charge], "r1", 60)
    assert first.unseeded == (0,) and not first.admitted
    await backend.seed_budget(charge.key, 200, None)
    await backend.seed_budget(charge.key, 999, None)  # a second seeder loses the race: no overwrite
    assert (await backend.reserve_budget([charge], "r1", 60)).admitted
    full = await backend.reserve_budget([charge], "r2", 60)
    assert full.admitted and full.states[0].reserved == 600 and full.states[0].spent == 200
    refused = await backend.reserve_budget([charge], "r3", 60)
    assert not refused.admitted and refused.states[0].spent == 200
    # r1 used less than it reserved: its settlement frees room for r3.
    await backend.settle_budget([charge], "r1", 50)
    retried = await backend.reserve_budget([charge], "r3", 60)
    assert retried.admitted and retried.states[0].spent == 250 and retried.states[0].reserved == 600


async def test_a_reservation_nobody_settles_lapses(backend: Any) -> None:
    charge = BudgetCharge("budget:key:g:total", cap=100, amount=100, expires_at=None)
    await backend.seed_budget(charge.key, 0, None)
    # A 1 s lease: "next" is refused only while it holds, whatever a busy host's stall in between.
    assert (await backend.reserve_budget([charge], "crashed", 1.0)).admitted
    assert not (await backend.reserve_budget([charge], "next", 1.0)).admitted
    await asyncio.sleep(1.2)
    assert (await backend.reserve_budget([charge], "next", 60)).admitted


async def test_messages_reach_subscribers_until_they_close(backend: Any) -> None:
    subscription = backend.subscribe("reviews")
    other = backend.subscribe("elsewhere")
    await subscribed(backend, "reviews", "elsewhere")  # Redis subscribes in the background
    await backend.publish("reviews", b"decided:1")
    assert await asyncio.wait_for(subscription.get(), 5) == b"decided:1"
    subscription.close()
    await backend.publish("reviews", b"decided:2")
    await asyncio.sleep(0.2)
    assert other.dropped == 0 and other.empty()
    other.close()


async def test_keys_expire_and_counters_add(backend: Any) -> None:
    await backend.set("breaker:x", b"open", ttl_s=1.0)  # read back at once: a stall must not outlast it
    assert await backend.get("breaker:x") == b"open"
    assert [await backend.incr("hits", 2, ttl_s=60) for _ in range(3)] == [2, 4, 6]
    await asyncio.sleep(1.2)
    assert await backend.get("breaker:x") is None
    await backend.delete("hits")
    assert await backend.get("hits") is None


@pytest.mark.redis
async def test_the_pubsub_listener_ends_when_cancelled_as_its_last_subscriber_leaves() -> None:
    # The event the idle listener waits on is set (a subscriber leaving) in the same loop pass as
    # the task is cancelled (a shutdown): the cancellation must end it. asyncio.wait_for on 3.11
    # returned normally there and the listener looped on for ever (a test teardown hung on it).
    with redis_prefix() as prefix:
        backend = RedisBackend(SHARED_REDIS, key_prefix=prefix, timeout_s=2.0)
        subscription = backend.subscribe("leaving")
        await subscribed(backend, "leaving")
        subscription.close()
        listener = backend._listener
        assert listener is not None
        await asyncio.sleep(0.5)  # it unsubscribes and waits for the next channel change
        backend._channels_changed.set()
        listener.cancel()
        backend._closing = True  # so a listener that lost the cancellation ends by itself: a failure, not a hang
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(listener, 5)
        await backend.close()
