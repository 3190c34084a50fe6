"""A deployment's concurrency limit and its bounded priority queue with deadlines."""

from __future__ import annotations

import asyncio
import time

import pytest

from headway.admission.queue import DeploymentQueue, Shed


def make_queue(limit: int = 1, max_queue: int = 10, timeout_s: float = 5.0) -> DeploymentQueue:
    return DeploymentQueue("sim/model", max_in_flight=limit, max_queue=max_queue, timeout_s=timeout_s)


def far() -> float:
    return time.perf_counter() + 30


async def test_free_slots_are_taken_without_waiting() -> None:
    queue = make_queue(limit=2)
    assert queue.try_acquire() and queue.try_acquire()
    assert not queue.try_acquire()
    assert queue.in_flight == 2 and queue.waiting == 0


async def test_waiters_are_served_by_priority_then_arrival() -> None:
    queue = make_queue(limit=1)
    assert queue.try_acquire()
    served: list[str] = []

    async def wait(name: str, priority: int) -> None:
        await queue.acquire(priority, far())
        served.append(name)

    tasks = []
    for name, priority in [("low-1", 0), ("high", 5), ("low-2", 0), ("mid", 1)]:
        tasks.append(asyncio.create_task(wait(name, priority)))
        await asyncio.sleep(0)
    assert queue.waiting == 4
    for _ in range(4):
        queue.release(0.01)
        await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    assert served == ["high", "mid", "low-1", "low-2"]
    assert queue.in_flight == 1 and queue.waiting == 0


async def test_a_full_queue_sheds_the_newcomer_unless_it_outranks_a_waiter() -> None:
    queue = make_queue(limit=1, max_queue=2)
    assert queue.try_acquire()
    low = asyncio.create_task(queue.acquire(0, far()))
    mid = asyncio.create_task(queue.acquire(1, far()))
    await asyncio.sleep(0)
    with pytest.raises(Shed) as same:
        await queue.acquire(0, far())
    assert same.value.reason == "queue_full" and same.value.retry_after_s >= 1
    # A higher priority takes the place of the lowest, newest waiter, which is shed.
    high = asyncio.create_task(queue.acquire(2, far()))
    await asyncio.sleep(0)
    with pytest.raises(Shed) as evicted:
        await low
    assert evicted.value.reason == "queue_full" and queue.stats.evicted == 1
    queue.release(0.01)
    await high
    assert not mid.done()
    queue.release(0.01)
    await mid


async def test_a_wait_that_cannot_end_in_time_is_shed_at_once() -> None:
    queue = make_queue(limit=2)
    queue.service_s = 1.0  # each request holds its slot about a second
    assert queue.try_acquire() and queue.try_acquire()
    waiters = [asyncio.create_task(queue.acquire(0, far())) for _ in range(3)]
    await asyncio.sleep(0)
    # Four ahead at two slots of ~1s each: about 2s of wait, more than the 0.5s left.
    with pytest.raises(Shed) as shed:
        await queue.acquire(0, time.perf_counter() + 0.5)
    assert shed.value.reason == "deadline" and shed.value.retry_after_s == pytest.approx(2.0)
    assert queue.stats.shed_deadline == 1 and queue.waiting == 3
    for task in waiters:
        task.cancel()
    await asyncio.gather(*waiters, return_exceptions=True)
    assert queue.waiting == 0 and queue.in_flight == 2


async def test_a_waiter_whose_deadline_passes_is_shed_and_leaves_the_queue() -> None:
    queue = make_queue(limit=1)
    assert queue.try_acquire()
    with pytest.raises(Shed) as shed:
        await queue.acquire(0, time.perf_counter() + 0.05)
    assert shed.value.reason == "timeout"
    assert queue.waiting == 0 and queue.stats.shed_timeout == 1
    queue.release(0.01)
    assert queue.in_flight == 0 and queue.try_acquire()


async def test_a_cancelled_waiter_gives_up_its_place() -> None:
    queue = make_queue(limit=1)
    assert queue.try_acquire()
    first = asyncio.create_task(queue.acquire(0, far()))
    second = asyncio.create_task(queue.acquire(0, far()))
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
    assert queue.waiting == 1
    queue.release(0.01)
    await second
    assert queue.in_flight == 1


async def test_a_slot_handed_to_a_waiter_that_is_cancelled_goes_back() -> None:
    queue = make_queue(limit=1)
    assert queue.try_acquire()
    waiter = asyncio.create_task(queue.acquire(0, far()))
    await asyncio.sleep(0)
    queue.release(0.01)  # hands the slot over...
    waiter.cancel()  # ...but the caller leaves before it runs again
    await asyncio.gather(waiter, return_exceptions=True)
    assert queue.in_flight == 0 and queue.waiting == 0
    assert queue.try_acquire()
