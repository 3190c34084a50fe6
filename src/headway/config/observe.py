"""The ``observe:`` section: metrics, traces, request log lines, alerts, retention, console.

Everything here has a safe default: metrics on, tracing on only when an OTLP endpoint is
configured (the standard ``OTEL_*`` variables), message contents never captured unless
asked for, records kept 30 days, feedback a year.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from headway.config.section import Section
from headway.config.webhooks import SignedWebhookConfig

# Seconds. Gateway latency spans a few ms (cache hits) to minutes (long generations).
DEFAULT_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class MetricsConfig(Section):
    enabled: bool = Field(True, description="Serve Prometheus metrics at /metrics and count every request.")
    latency_buckets: Annotated[list[float], Field(min_length=1)] = Field(
        default_factory=lambda: list(DEFAULT_LATENCY_BUCKETS),
        description="Histogram buckets (seconds) for request latency, time to first token and queue wait.",
    )

    @field_validator("latency_buckets")
    @classmethod
    def _increasing(cls, value: list[float]) -> list[float]:
        if any(b <= a for a, b in pairwise(value)) or value[0] <= 0:
            raise ValueError("must be positive and strictly increasing")
        return value


class TracingConfig(Section):
    enabled: Literal["auto", "on", "off"] = Field(
        "auto",
        description="auto: trace when OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set.",
    )
    exporter: Literal["otlp", "console", "none"] = Field(
        "otlp", description="otlp: OTLP/HTTP configured by the standard OTEL_EXPORTER_OTLP_* variables."
    )
    service_name: str = Field("headway", description="service.name unless OTEL_SERVICE_NAME says otherwise.")
    capture_content: bool = Field(
        False, description="Record prompts and completions (gen_ai.input/output.messages) on upstream spans."
    )


class LogsConfig(Section):
    request_lines: bool = Field(True, description="One structured log line per finished request.")


class WebhookConfig(SignedWebhookConfig):
    timeout_s: Annotated[float, Field(gt=0, le=60)] = 5.0


AlertKind = Literal[
    "error_rate", "latency_p95", "cost_per_hour", "fallback_rate", "degraded_rate", "breaker_open",
    "pipeline_failures", "retrieval_failures", "review_backlog",
]


class AlertRuleConfig(Section):
    """Fires when the measured value is above ``threshold`` over the last ``window_s`` seconds."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.\-]{1,100}$")]
    kind: AlertKind
    threshold: Annotated[float, Field(ge=0)] = Field(
        description=(
            "error_rate, fallback_rate, degraded_rate, retrieval_failures: a fraction (0.05); latency_p95: "
            "milliseconds; cost_per_hour: USD; breaker_open: open breakers (0 fires on the first); "
            "pipeline_failures: failed runs in the window; review_backlog: items waiting (or seconds, see measure)."
        )
    )
    window_s: Annotated[float, Field(gt=0, le=7 * 86400)] = 300.0
    min_requests: Annotated[int, Field(ge=1)] = Field(
        10, description="Rate and latency rules stay quiet below this many requests in the window."
    )
    model: str | None = Field(None, description="Only requests for this model (route) name.")
    measure: Literal["size", "age_seconds"] = Field("size", description="review_backlog only: items or oldest age.")
    severity: Literal["info", "warning", "critical"] = "warning"


class AlertsConfig(Section):
    interval_s: Annotated[float, Field(gt=0, le=3600)] = Field(30.0, description="Seconds between evaluations.")
    rules: list[AlertRuleConfig] = Field(default_factory=list)
    webhooks: list[WebhookConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> AlertsConfig:
        names = [rule.name for rule in self.rules]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"alert rule names must be unique; repeated: {', '.join(duplicates)}")
        return self


class RetentionConfig(Section):
    requests_days: Annotated[float, Field(gt=0)] = Field(30.0, description="Request records older than this are deleted.")
    feedback_days: Annotated[float, Field(gt=0)] = Field(365.0, description="Feedback older than this is deleted.")
    alerts_days: Annotated[float, Field(gt=0)] = Field(90.0, description="Resolved alert incidents older than this.")
    interval_s: Annotated[float, Field(gt=0, le=86400)] = Field(3600.0, description="Seconds between prunes.")
    batch_size: Annotated[int, Field(ge=100, le=100_000)] = 5000


class ConsoleConfig(Section):
    enabled: bool = Field(True, description="Serve the web console at /console.")
    session_secret: SecretStr | None = Field(
        None,
        description="Signs console session cookies, as ${VAR}. Unset: a random per-process secret "
        "(sessions end on restart and are not shared between replicas).",
    )
    session_hours: Annotated[float, Field(gt=0, le=24 * 30)] = 12.0


class ObserveConfig(Section):
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    tracing: TracingConfig = Field(default_factory=TracingConfig)
    logs: LogsConfig = Field(default_factory=LogsConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    console: ConsoleConfig = Field(default_factory=ConsoleConfig)
