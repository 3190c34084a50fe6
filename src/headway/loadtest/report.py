"""``LoadReport`` and ``StepReport``: the plain, JSON-able result of a run.

``to_dict``/``from_dict`` round-trip exactly; ``schema_version`` changes whenever a field
changes meaning so that readers (the readiness gate, stored runs) can refuse what they
do not understand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from headway.errors import HeadwayError
from headway.loadtest.recorder import StepRecorder
from headway.loadtest.slo import SloResult
from headway.loadtest.stats import Distribution, summarise_ms

SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class StepReport:
    """What one load level measured. Latencies are in milliseconds, over successful requests."""

    label: str
    mode: str  # "closed" | "open"
    concurrency: int | None
    rate: float | None  # offered requests/s (open loop)
    arrival: str | None  # "constant" | "poisson" (open loop)
    elapsed_s: float  # step start until its last request finished
    sent: int
    ok: int
    errors: dict[str, int]  # kind -> count, e.g. {"http_429": 3, "timeout": 1}
    error_samples: dict[str, str]  # kind -> first message seen
    error_rate: float  # errors / finished requests
    throughput_rps: float  # finished requests (ok or not) / elapsed_s
    ok_rps: float  # successful requests / elapsed_s
    output_tokens_per_s: float
    latency_ms: Distribution | None
    ttft_ms: Distribution | None  # streaming only
    itl_ms: Distribution | None  # streaming only: per-request mean gap between content chunks
    input_tokens: int
    output_tokens: int
    cost_usd: float | None  # None when neither a price nor a cost header was available
    cost_source: str | None  # "header" | "price" | "mixed"
    max_in_flight: int
    late: int  # open loop: sends more than LATE_AFTER_S behind schedule
    max_schedule_lag_ms: float
    dropped: int  # open loop: arrivals skipped because max_in_flight was reached

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def to_dict(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        for name in ("latency_ms", "ttft_ms", "itl_ms"):
            value = data[name]
            data[name] = value.to_dict() if value is not None else None
        data["errors"] = dict(self.errors)
        data["error_samples"] = dict(self.error_samples)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StepReport:
        values = {name: data[name] for name in cls.__dataclass_fields__}
        for name in ("latency_ms", "ttft_ms", "itl_ms"):
            if values[name] is not None:
                values[name] = Distribution.from_dict(values[name])
        return cls(**values)


@dataclass(slots=True)
class LoadReport:
    """A whole run: the configuration snapshot, one ``StepReport`` per level, and SLO verdicts."""

    started_at: float  # unix seconds
    finished_at: float
    config: dict[str, Any]  # LoadConfig.to_dict(): secrets redacted
    steps: list[StepReport]
    slo_results: list[SloResult] = field(default_factory=list)
    schema_version: int = SCHEMA_VERSION

    @property
    def passed(self) -> bool:
        """True when every SLO held (and trivially when none were set)."""
        return all(result.passed for result in self.slo_results)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "config": self.config,
            "steps": [step.to_dict() for step in self.steps],
            "slo_results": [result.to_dict() for result in self.slo_results],
            "passed": self.passed,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LoadReport:
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise HeadwayError(
                f"load report schema_version {version!r} is not {SCHEMA_VERSION}; re-run the load test"
            )
        return cls(
            started_at=data["started_at"],
            finished_at=data["finished_at"],
            config=data["config"],
            steps=[StepReport.from_dict(step) for step in data["steps"]],
            slo_results=[SloResult.from_dict(result) for result in data["slo_results"]],
        )


def summarise_step(
    recorder: StepRecorder,
    *,
    label: str,
    mode: str,
    concurrency: int | None,
    rate: float | None,
    arrival: str | None,
    elapsed_s: float,
) -> StepReport:
    """Turn one step's raw samples into its report (all the maths happens here, after the step)."""
    finished = recorder.completed
    errors = recorder.error_count
    elapsed = max(elapsed_s, 1e-9)
    priced = recorder.cost_from_header + recorder.cost_from_price
    if not priced:
        cost_usd, cost_source = None, None
    else:
        cost_usd = recorder.cost_usd
        if recorder.cost_from_header and recorder.cost_from_price:
            cost_source = "mixed"
        else:
            cost_source = "header" if recorder.cost_from_header else "price"
    return StepReport(
        label=label,
        mode=mode,
        concurrency=concurrency,
        rate=rate,
        arrival=arrival,
        elapsed_s=elapsed_s,
        sent=recorder.sent,
        ok=recorder.ok,
        errors=dict(sorted(recorder.errors.items())),
        error_samples=dict(sorted(recorder.error_samples.items())),
        error_rate=errors / finished if finished else 0.0,
        throughput_rps=finished / elapsed,
        ok_rps=recorder.ok / elapsed,
        output_tokens_per_s=recorder.output_tokens / elapsed,
        latency_ms=summarise_ms(recorder.latencies),
        ttft_ms=summarise_ms(recorder.ttfts),
        itl_ms=summarise_ms(recorder.itls),
        input_tokens=recorder.input_tokens,
        output_tokens=recorder.output_tokens,
        cost_usd=cost_usd,
        cost_source=cost_source,
        max_in_flight=recorder.max_in_flight,
        late=recorder.late,
        max_schedule_lag_ms=recorder.max_schedule_lag * 1000.0,
        dropped=recorder.dropped,
    )
