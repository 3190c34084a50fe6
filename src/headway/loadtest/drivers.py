"""The two ways of offering load: a closed loop of workers, or an open-loop arrival schedule.

Closed loop: ``concurrency`` workers each send, wait for the answer, and send again, so
at most ``concurrency`` requests are ever in flight and the offered rate follows the
target's speed. Open loop: requests are due at absolute times from the start of the
step (every ``1/rate`` seconds, or at exponentially distributed gaps for Poisson
arrivals) and are sent when due whether or not earlier ones have answered: a slow
target does not slow the schedule down. Sends that start late are counted, and
arrivals that would exceed ``max_in_flight`` are dropped and counted, so a dead target
cannot make the client pile up unbounded work.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import random
from collections.abc import Callable, Coroutine, Iterator
from time import perf_counter
from typing import Any

from headway.loadtest.recorder import StepRecorder

Send = Callable[..., Coroutine[Any, Any, None]]

# Event-loop timers tick in whole milliseconds: uvloop turns a shorter sleep into a zero
# timeout, so the scheduler would spin a core waiting for the next arrival. Waking at
# most once a millisecond and sending everything then due costs a send at most about a
# millisecond of punctuality (recorded as schedule lag) and no CPU.
MIN_SLEEP_S = 0.001


class _Tickets:
    """A shared request budget; ``None`` means unlimited (the duration bounds the step)."""

    __slots__ = ("remaining",)

    def __init__(self, remaining: int | None) -> None:
        self.remaining = remaining

    def take(self) -> bool:
        if self.remaining is None:
            return True
        if self.remaining <= 0:
            return False
        self.remaining -= 1
        return True


async def run_closed_loop(
    send: Send, concurrency: int, *, duration_s: float | None, requests: int | None
) -> None:
    """Run ``concurrency`` send-wait-send workers until the duration or the request budget ends."""
    deadline = perf_counter() + duration_s if duration_s is not None else math.inf
    tickets = _Tickets(requests)

    async def worker() -> None:
        while perf_counter() < deadline and tickets.take():
            await send()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


def arrival_offsets(rate: float, arrival: str, seed: int) -> Iterator[float]:
    """Seconds from the step start at which each request is due, in order, without end."""
    if arrival == "constant":
        # i / rate rather than a running sum: no floating-point drift over long steps.
        return (i / rate for i in itertools.count())
    return _poisson_offsets(rate, random.Random(seed))


def _poisson_offsets(rate: float, rng: random.Random) -> Iterator[float]:
    at = 0.0
    while True:
        at += rng.expovariate(rate)
        yield at


async def run_open_loop(
    send: Send,
    recorder: StepRecorder,
    offsets: Iterator[float],
    *,
    duration_s: float | None,
    requests: int | None,
    max_in_flight: int,
) -> None:
    """Send on the arrival schedule until it passes the duration or the request budget ends."""
    in_flight: set[asyncio.Task[None]] = set()
    end_offset = duration_s if duration_s is not None else math.inf
    remaining = requests if requests is not None else math.inf
    start = perf_counter()
    due = next(offsets)
    while remaining > 0 and due < end_offset:
        now = perf_counter() - start
        if due > now:
            await asyncio.sleep(max(due - now, MIN_SLEEP_S))
            continue
        # Everything already due goes out now, in one burst: the schedule never slips.
        if len(in_flight) >= max_in_flight:
            recorder.dropped += 1
        else:
            task = asyncio.create_task(send(start + due))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        remaining -= 1
        due = next(offsets)
    if in_flight:
        await asyncio.wait(in_flight)
