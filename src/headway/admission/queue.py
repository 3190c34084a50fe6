"""One deployment's concurrency limit, with a bounded priority queue in front of it.

A request takes a slot at once when one is free and nobody is waiting (no await, no
lock: the event loop is the only thread that touches the counters). Otherwise it waits
in a heap ordered by priority, then arrival, until a finishing request hands it its
slot — or it is shed:
- *queue full*: the queue holds ``max_queue`` waiters and none has a lower priority
  (if one has, that one is shed instead and the newcomer takes its place);
- *deadline*: the wait it would face (waiters ahead × service time ÷ limit) already
  exceeds what is left of its deadline, so it fails now instead of timing out later;
- *timeout*: its deadline passed while it waited.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from headway.admission.adaptive import AimdLimit
from headway.errors import HeadwayError

SERVICE_ALPHA = 0.2  # weight of the newest service time in its moving average


class Shed(HeadwayError):
    """A request this deployment will not serve in time; ``reason`` is queue_full, deadline or timeout."""

    def __init__(self, deployment: str, reason: str, retry_after_s: float, message: str) -> None:
        super().__init__(message)
        self.deployment = deployment
        self.reason = reason
        self.retry_after_s = retry_after_s


@dataclass(slots=True)
class QueueStats:
    admitted_at_once: int = 0
    admitted_after_wait: int = 0
    shed_queue_full: int = 0
    shed_deadline: int = 0
    shed_timeout: int = 0
    evicted: int = 0  # waiters shed to make room for a higher priority
    max_waiting: int = 0
    wait_s_total: float = 0.0


@dataclass(slots=True)
class _Waiter:
    priority: int
    future: asyncio.Future[None]
    gone: bool = False  # left the queue (timed out, evicted or cancelled); skipped when popped
    timer: asyncio.TimerHandle | None = field(default=None, repr=False)


class DeploymentQueue:
    def __init__(
        self,
        deployment: str,
        *,
        max_in_flight: int,
        max_queue: int,
        timeout_s: float,
        adaptive: AimdLimit | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.deployment = deployment
        self.max_in_flight = max_in_flight
        self.max_queue = max_queue
        self.timeout_s = timeout_s
        self.adaptive = adaptive
        self.in_flight = 0
        self.waiting = 0
        self.service_s: float | None = None  # moving average of the time a slot is held
        self.stats = QueueStats()
        self._heap: list[tuple[int, int, _Waiter]] = []
        self._seq = itertools.count()
        self._clock = clock

    @property
    def limit(self) -> int:
        return self.adaptive.limit if self.adaptive is not None else self.max_in_flight

    # -- taking a slot --------------------------------------------------------------------
    def try_acquire(self) -> bool:
        if self.in_flight < self.limit and not self.waiting:
            self.in_flight += 1
            self.stats.admitted_at_once += 1
            return True
        return False

    async def acquire(self, priority: int, deadline: float) -> None:
        """Take a slot by ``deadline`` (a ``clock`` time) or raise ``Shed``."""
        if self.try_acquire():
            return
        now = self._clock()
        remaining = deadline - now
        predicted = self.predicted_wait_s(self._ahead_of(priority))
        if remaining <= 0 or (predicted is not None and predicted > remaining):
            self.stats.shed_deadline += 1
            raise Shed(
                self.deployment,
                "deadline",
                predicted or self.timeout_s,
                f"the wait for {self.deployment} (about {predicted or 0:.1f}s for {self.waiting} queued "
                f"at {self.limit} in flight) would pass the request's deadline ({max(0.0, remaining):.1f}s left)",
            )
        if self.waiting >= self.max_queue:
            self._make_room(priority)
        loop = asyncio.get_running_loop()
        waiter = _Waiter(priority, loop.create_future())
        heapq.heappush(self._heap, (-priority, next(self._seq), waiter))
        self.waiting += 1
        self.stats.max_waiting = max(self.stats.max_waiting, self.waiting)
        waiter.timer = loop.call_later(remaining, self._expire, waiter)
        try:
            await waiter.future
        except asyncio.CancelledError:
            if waiter.future.done() and not waiter.future.cancelled() and waiter.future.exception() is None:
                self.release()  # the slot was handed over just as the caller went away
            else:
                self._leave(waiter)
            raise
        finally:
            waiter.timer.cancel()
        self.stats.admitted_after_wait += 1
        self.stats.wait_s_total += self._clock() - now

    def predicted_wait_s(self, ahead: int) -> float | None:
        """How long a request with ``ahead`` waiters before it would wait, from the service-time average."""
        if self.service_s is None:
            return None
        return (ahead + 1) * self.service_s / max(1, self.limit)

    def retry_after_s(self) -> float:
        """When a shed client may try again: about the time the current queue takes to drain."""
        return max(1.0, self.predicted_wait_s(self.waiting) or 1.0)

    def _ahead_of(self, priority: int) -> int:
        if not self.waiting:
            return 0
        return sum(1 for p, _, w in self._heap if -p >= priority and not w.gone)

    def _make_room(self, priority: int) -> None:
        live = [(p, seq, w) for p, seq, w in self._heap if not w.gone]
        # The lowest priority, newest arrival goes first: it has waited least.
        victim = max(live, key=lambda item: (item[0], item[1]), default=None)
        if victim is None or -victim[0] >= priority:
            self.stats.shed_queue_full += 1
            raise Shed(
                self.deployment,
                "queue_full",
                self.retry_after_s(),
                f"{self.deployment} has {self.limit} requests in flight and {self.waiting} waiting, its queue limit",
            )
        waiter = victim[2]
        self._leave(waiter)
        self.stats.evicted += 1
        waiter.future.set_exception(
            Shed(self.deployment, "queue_full", self.retry_after_s(), f"shed from the {self.deployment} queue for a higher-priority request")
        )

    def _expire(self, waiter: _Waiter) -> None:
        if waiter.future.done():
            return
        self._leave(waiter)
        self.stats.shed_timeout += 1
        waiter.future.set_exception(
            Shed(self.deployment, "timeout", self.retry_after_s(), f"no slot on {self.deployment} before the request's deadline")
        )

    def _leave(self, waiter: _Waiter) -> None:
        if not waiter.gone:
            waiter.gone = True
            self.waiting -= 1
        if len(self._heap) > 2 * self.waiting + 64:
            # Departed waiters stay in the heap until popped; drop them before they pile up.
            self._heap = [item for item in self._heap if not item[2].gone]
            heapq.heapify(self._heap)

    # -- giving it back -------------------------------------------------------------------
    def release(self, held_s: float | None = None, *, latency_s: float | None = None, overloaded: bool = False) -> None:
        """A request is done with its slot after ``held_s``; ``latency_s`` (default ``held_s``) is
        the upstream's own latency, which drives the adaptive limit."""
        self.in_flight -= 1
        if held_s is not None:
            self.service_s = held_s if self.service_s is None else self.service_s + SERVICE_ALPHA * (held_s - self.service_s)
            if self.adaptive is not None:
                self.adaptive.observe(latency_s if latency_s is not None else held_s, overloaded=overloaded)
        self._hand_over()

    def _hand_over(self) -> None:
        while self._heap and self.in_flight < self.limit:
            _, _, waiter = heapq.heappop(self._heap)
            if waiter.gone or waiter.future.done():
                continue
            self.waiting -= 1
            waiter.gone = True
            self.in_flight += 1
            waiter.future.set_result(None)

    def describe(self) -> dict[str, object]:
        return {
            "limit": self.limit,
            "max_in_flight": self.max_in_flight,
            "in_flight": self.in_flight,
            "waiting": self.waiting,
            "max_queue": self.max_queue,
            "service_ms": round(self.service_s * 1000, 3) if self.service_s is not None else None,
            "shed": self.stats.shed_queue_full + self.stats.shed_deadline + self.stats.shed_timeout + self.stats.evicted,
            **({"adaptive_decreases": self.adaptive.decreases} if self.adaptive is not None else {}),
        }

