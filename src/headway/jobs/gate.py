"""The batch capacity gate: batch lines take only capacity other traffic leaves idle.

A worker sends at most ``max_concurrency`` batch lines at once when nothing else is in
flight, and fewer as other traffic rises: with ``busy`` upstream calls of interactive
and background requests in flight, the allowance is
``max_concurrency × (1 − busy / yield_at)``, none at all from ``yield_at`` on. Lines
already sent finish; new ones wait. ``busy`` is read from the deployments' in-flight
counters (what the executor maintains) minus the batch lines this gate let through, so
it needs no hook on the request path. It is per process: a ``headway worker`` process
serving no HTTP sees only its own traffic; admission's deployment queues (priority
``batch`` last) bound what all replicas send together.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

POLL_S = 0.02  # how often a waiting line looks again while other traffic holds the capacity


class BatchGate:
    def __init__(self, max_concurrency: int, yield_at: int, in_flight: Callable[[], int]) -> None:
        self.max_concurrency = max_concurrency
        self.yield_at = yield_at
        self._in_flight = in_flight  # every upstream call in flight in this process, batch lines included
        self.active = 0  # batch lines holding a slot (each is, about, one upstream call)
        self._freed = asyncio.Event()

    def busy(self) -> int:
        """Upstream calls in flight that are not this gate's batch lines."""
        return max(0, self._in_flight() - self.active)

    def allowance(self) -> int:
        busy = self.busy()
        if busy >= self.yield_at:
            return 0
        return max(0, int(self.max_concurrency * (1 - busy / self.yield_at)))

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
