"""How long one response takes: draws the latency dials into seconds for one request.

Per-request overrides (header ``x-sim-latency-ms`` or directive ``[sim:latency_ms=N]``,
likewise ``ttft_ms`` and ``itl_ms``) replace the drawn value. A zero delay stays exactly
zero so the server can skip ``asyncio.sleep`` altogether on the fast path.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass

from headway.sim.scenario import Delay, Dials, LogNormal, Normal, Uniform

TIMING_DIALS = ("latency_ms", "ttft_ms", "itl_ms")


@dataclass(frozen=True, slots=True)
class Timing:
    """Seconds: before the response head, before the first token, between tokens."""

    latency: float = 0.0
    ttft: float = 0.0
    itl: float = 0.0

    def generation_time(self, tokens: int) -> float:
        """The time a non-streaming answer of ``tokens`` tokens takes to be ready."""
        return self.latency + self.ttft + self.itl * max(tokens - 1, 0)


ZERO = Timing()


def draw_ms(delay: Delay, rng: random.Random) -> float:
    """One draw of a delay dial, in milliseconds, never negative."""
    if isinstance(delay, int | float):
        return float(delay)
    if isinstance(delay, Uniform):
        return rng.uniform(delay.low, delay.high)
    if isinstance(delay, LogNormal):
        return rng.lognormvariate(math.log(delay.median), delay.sigma)
    if isinstance(delay, Normal):
        return max(0.0, rng.gauss(delay.mean, delay.stddev))
    raise TypeError(f"unknown delay {delay!r}")


def draw_timing(
    dials: Dials,
    rng: random.Random,
    overrides: Mapping[str, float],
    *,
    slow_first_token: bool = False,
) -> Timing:
    """The timing of one request: ``overrides`` maps dial names to milliseconds."""
    if not overrides and not slow_first_token and dials.latency_ms == dials.ttft_ms == dials.itl_ms == 0:
        return ZERO
    values: list[float] = []
    for name in TIMING_DIALS:
        forced = overrides.get(name)
        values.append(draw_ms(getattr(dials, name), rng) if forced is None else forced)
    latency_ms, ttft_ms, itl_ms = values
    if slow_first_token:
        ttft_ms = dials.faults.slow_first_token_ms
    return Timing(latency=latency_ms / 1000.0, ttft=ttft_ms / 1000.0, itl=itl_ms / 1000.0)
