"""Service-level objectives: ``--slo p99_ms=2000,error_rate=0.01`` parsed, then judged.

Each key names one metric of a step and carries its direction: latencies, error rate
and cost must stay at or below the threshold, throughputs at or above it. An SLO is
checked at every step of the run and passes only when it holds at every step (a sweep
promises the objective at each load level). A metric a step did not measure (time to
first token without ``--stream``, latency with no successful request) fails the SLO:
an objective nobody could check is not met.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

from headway.errors import ConfigError

if TYPE_CHECKING:
    from headway.loadtest.report import LoadReport, StepReport

Direction = Literal["<=", ">="]
_COMPARE: dict[str, Callable[[float, float], bool]] = {"<=": operator.le, ">=": operator.ge}


@dataclass(frozen=True, slots=True)
class Metric:
    """Where a metric lives on a ``StepReport`` and which way is good."""

    field: str  # StepReport attribute
    stat: str | None  # Distribution attribute, when the field is a distribution
    direction: Direction
    description: str

    def value(self, step: StepReport) -> float | None:
        value = getattr(step, self.field)
        if self.stat is not None:
            value = getattr(value, self.stat) if value is not None else None
        return float(value) if value is not None else None


def _distribution_metrics(prefix: str, field: str, what: str) -> dict[str, Metric]:
    return {
        f"{prefix}{stat}_ms": Metric(field, stat, "<=", f"{what} {stat} in milliseconds")
        for stat in ("p50", "p90", "p95", "p99", "mean", "max")
    }


METRICS: dict[str, Metric] = {
    **_distribution_metrics("", "latency_ms", "request latency"),
    **_distribution_metrics("ttft_", "ttft_ms", "time to first token (streaming)"),
    **_distribution_metrics("itl_", "itl_ms", "inter-token latency (streaming)"),
    "error_rate": Metric("error_rate", None, "<=", "failed / finished requests, a fraction 0..1"),
    "throughput_rps": Metric("throughput_rps", None, ">=", "finished requests per second"),
    "ok_rps": Metric("ok_rps", None, ">=", "successful requests per second"),
    "output_tokens_per_s": Metric("output_tokens_per_s", None, ">=", "output tokens per second"),
    "cost_usd": Metric("cost_usd", None, "<=", "cost of the step in USD"),
}


@dataclass(frozen=True, slots=True)
class Slo:
    key: str
    threshold: float

    @property
    def direction(self) -> Direction:
        return METRICS[self.key].direction

    @property
    def text(self) -> str:
        return f"{self.key}={self.threshold:g}"

    def holds_for(self, value: float) -> bool:
        return _COMPARE[self.direction](value, self.threshold)


@dataclass(frozen=True, slots=True)
class SloResult:
    """The verdict on one SLO over the whole run."""

    key: str
    direction: Direction
    threshold: float
    passed: bool
    worst: float | None  # the worst measured value over the steps
    values: list[float | None]  # per step, in step order; None = not measured
    failed_steps: list[str]  # labels of the steps where it did not hold

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SloResult:
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})


def parse_slo(text: str) -> list[Slo]:
    """Parse ``key=number[,key=number...]``; errors name the offending key and the known ones."""
    slos: list[Slo] = []
    for part in text.split(","):
        item = part.strip()
        if not item:
            continue
        key, sep, raw = (piece.strip() for piece in item.partition("="))
        if not sep or not key:
            raise ConfigError(f"expected key=value, got {item!r}", path="--slo")
        if key not in METRICS:
            raise ConfigError(f"unknown SLO key {key!r}; known keys: {', '.join(METRICS)}", path="--slo")
        try:
            threshold = float(raw)
        except ValueError:
            raise ConfigError(f"SLO key {key!r} needs a number, got {raw!r}", path="--slo") from None
        if not math.isfinite(threshold) or threshold < 0:
            raise ConfigError(f"SLO key {key!r} needs a finite number >= 0, got {raw!r}", path="--slo")
        if key == "error_rate" and threshold > 1:
            raise ConfigError(f"SLO key 'error_rate' is a fraction 0..1, got {raw!r}", path="--slo")
        if any(slo.key == key for slo in slos):
            raise ConfigError(f"SLO key {key!r} is given twice", path="--slo")
        slos.append(Slo(key, threshold))
    return slos


def evaluate_slos(report: LoadReport, slos: list[Slo] | tuple[Slo, ...]) -> list[SloResult]:
    """Judge every SLO at every step of ``report``."""
    return [_evaluate(slo, report.steps) for slo in slos]


def _evaluate(slo: Slo, steps: list[StepReport]) -> SloResult:
    metric = METRICS[slo.key]
    values = [metric.value(step) for step in steps]
    failed = [
        step.label
        for step, value in zip(steps, values, strict=True)
        if value is None or not slo.holds_for(value)
    ]
    measured = [value for value in values if value is not None]
    pick_worst = max if slo.direction == "<=" else min
    return SloResult(
        key=slo.key,
        direction=slo.direction,
        threshold=slo.threshold,
        passed=bool(steps) and not failed,
        worst=pick_worst(measured) if measured else None,
        values=values,
        failed_steps=failed,
    )
