"""The batch throttle: batch lines take only capacity other traffic leaves idle.

A worker sends at most ``max_concurrency`` batch lines at once when nothing else is in
flight, and fewer as other traffic rises: with ``busy`` upstream calls of interactive
and background requests in flight, the allowance is
``max_concurrency × (1 − busy / yield_at)``, none at all from ``yield_at`` on. Lines
already sent finish; new ones wait. ``busy`` is read from the deployments' in-flight
counters (what the executor maintains) minus the batch lines this throttle let through, so
it needs no hook on the request path.

The upstream is not the only shared resource: in ``headway serve`` batch lines share the
event loop with interactive requests, and a busy loop delays every request on it. So
the allowance also shrinks with the loop's lag (how late a short timer fires, averaged):
``× (1 − lag / max_loop_lag)``, down to one line at a time from ``max_loop_lag`` on.

It is per process: a ``headway worker`` process serving no HTTP sees only its own
traffic; admission's deployment queues (priority ``batch`` last) bound what all
replicas send together.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from headway.observe import BackgroundTask

POLL_S = 0.02  # how often a waiting line looks again while other traffic holds the capacity
LAG_INTERVAL_S = 0.05  # the lag probe's timer
LAG_ALPHA = 0.3  # weight of the newest lag sample


class LoopLag:
    """How late the event loop runs a short timer, as a moving average (ms)."""

    def __init__(self) -> None:
        self.ms = 0.0
        self._task = BackgroundTask("headway-jobs-loop-lag")

    def start(self) -> None:
        self._task.start(self._probe)

    async def close(self) -> None:
        await self._task.close()

    async def _probe(self) -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(LAG_INTERVAL_S)
            lag_ms = max(0.0, (time.perf_counter() - started - LAG_INTERVAL_S) * 1000)
            self.ms += LAG_ALPHA * (lag_ms - self.ms)


class BatchThrottle:
    def __init__(
        self,
        max_concurrency: int,
        yield_at: int,
        in_flight: Callable[[], int],
        *,
        max_loop_lag_ms: float | None = None,
        lag: LoopLag | None = None,
    ) -> None:
        self.max_concurrency = max_concurrency
        self.yield_at = yield_at
        self.max_loop_lag_ms = max_loop_lag_ms
        self.lag = lag or LoopLag()
        self._in_flight = in_flight  # every upstream call in flight in this process, batch lines included
        self.active = 0  # batch lines holding a slot (each is, about, one upstream call)
        self._freed = asyncio.Event()

    def busy(self) -> int:
        """Upstream calls in flight that are not this throttle's batch lines."""
        return max(0, self._in_flight() - self.active)

    def allowance(self) -> int:
        busy = self.busy()
        if busy >= self.yield_at:
            return 0
        allowed = int(self.max_concurrency * (1 - busy / self.yield_at))
        if allowed and self.max_loop_lag_ms:
            # A lagging loop slows batch lines down to one at a time, never to none: the lag
            # may come from outside this process, and a batch must still make progress.
            allowed = max(1, int(allowed * max(0.0, 1 - self.lag.ms / self.max_loop_lag_ms)))
        return allowed

    async def acquire(self, stopped: Callable[[], bool] = lambda: False) -> bool:
        """Wait for a slot; ``False`` (and no slot) when ``stopped()`` turns true first."""
        while self.active >= self.allowance():
            if stopped():
                return False
            self._freed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._freed.wait(), POLL_S)
        if stopped():
            return False
        self.active += 1
        return True

    def release(self) -> None:
        self.active -= 1
        self._freed.set()
