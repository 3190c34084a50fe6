"""Percentiles and distribution summaries, computed once at the end of a step.

Method: **nearest rank**. The p-th percentile of n sorted samples is the sample at
1-based rank ``ceil(p/100 * n)`` (rank 1 for p = 0). It is always a value that was
actually observed, never an interpolation between two, and it is the definition
HdrHistogram (and so wrk) reports, which keeps our numbers comparable with theirs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

PERCENTILES = (50, 90, 95, 99)


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of already sorted values; raises on empty input or p outside 0..100."""
    if not sorted_values:
        raise ValueError("percentile of no samples")
    if not 0 <= p <= 100:
        raise ValueError(f"percentile must be within 0..100, got {p}")
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass(frozen=True, slots=True)
class Distribution:
    """Summary of one measured quantity in milliseconds."""

    count: int
    min: float
    mean: float
    p50: float
    p90: float
    p95: float
    p99: float
    max: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Distribution:
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})


def summarise_ms(seconds: Iterable[float]) -> Distribution | None:
    """Summarise samples given in seconds as milliseconds; ``None`` when there are none."""
    values = sorted(seconds)
    if not values:
        return None
    ms = [v * 1000.0 for v in values]
    p50, p90, p95, p99 = (percentile(ms, p) for p in PERCENTILES)
    return Distribution(
        count=len(ms),
        min=ms[0],
        mean=math.fsum(ms) / len(ms),
        p50=p50,
        p90=p90,
        p95=p95,
        p99=p99,
        max=ms[-1],
    )
