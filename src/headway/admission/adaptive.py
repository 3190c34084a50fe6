"""Adaptive concurrency: AIMD on upstream latency and overload signals.

Two moving averages of the deployment's latency: a fast one (what it is doing now) and
a slow one (what it usually does). While the fast one stays within ``tolerance`` times
the slow one, each success adds ``1/limit`` (one slot per round of ``limit`` requests);
when it rises above, or the upstream answers 429/5xx/timeout, the limit is multiplied
by ``backoff`` — at most once per ``cooldown`` samples, so one slow burst does not
collapse it. The limit stays between ``floor`` and ``ceiling`` (``max_in_flight``).
"""

from __future__ import annotations

import math

FAST_ALPHA = 0.3
SLOW_ALPHA = 0.02


class AimdLimit:
    def __init__(
        self,
        ceiling: int,
        floor: int = 1,
        *,
        backoff: float = 0.8,
        tolerance: float = 2.0,
        cooldown: int | None = None,
    ) -> None:
        self.ceiling = ceiling
        self.floor = min(floor, ceiling)
        self.backoff = backoff
        self.tolerance = tolerance
        self.cooldown = cooldown
        self.current = float(ceiling)
        self.fast_s: float | None = None
        self.slow_s: float | None = None
        self.decreases = 0
        self._since_decrease = 0

    @property
    def limit(self) -> int:
        return max(self.floor, math.floor(self.current))

    def observe(self, latency_s: float, *, overloaded: bool = False) -> None:
        """One finished upstream call: its latency, and whether the upstream said it was overloaded."""
        self._since_decrease += 1
        if self.fast_s is None or self.slow_s is None:
            self.fast_s = self.slow_s = latency_s
        else:
            self.fast_s += FAST_ALPHA * (latency_s - self.fast_s)
            self.slow_s += SLOW_ALPHA * (latency_s - self.slow_s)
        congested = overloaded or self.fast_s > self.tolerance * self.slow_s
        if congested:
            # Wait a round of the current limit between cuts: the samples that follow a cut
            # still come from requests sent before it.
            if self._since_decrease >= (self.cooldown or self.limit):
                self.current = max(float(self.floor), self.current * self.backoff)
                self.decreases += 1
                self._since_decrease = 0
        else:
            self.current = min(float(self.ceiling), self.current + 1.0 / max(self.current, 1.0))
