"""Prometheus metrics, one registry per runtime.

Per-request series come from one place: ``Metrics.observe(record)`` runs once per
finished ``RequestRecord`` (the request log notifies its observers), so handlers never
touch metrics. Label children are cached by their label values, which turns the usual
``counter.labels(...)`` validation and locking into one dict lookup on the hot path.

Other parts report what records cannot carry through small calls
(``limit_rejected``, ``queue_wait``, ``pipeline_run``) and expose state as callbacks
read at scrape time (``watch``): breaker states, queue depth, the review backlog.
The full list of series is documented in ``docs/observability.md``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from headway import __version__
from headway.types import RequestRecord

log = logging.getLogger("headway.metrics")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# A callback gauge source yields (label values, value) pairs, in the family's label order.
GaugeSource = Callable[[], Iterable[tuple[Sequence[str], float]]]

# Gauges read at scrape time: name -> (help, label names). Sources are attached with ``watch``.
CALLBACK_GAUGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "headway_circuit_breaker_state": ("Circuit breaker state per deployment: 0 closed, 1 half-open, 2 open.", ("deployment",)),
    "headway_deployment_in_flight_requests": ("Upstream calls in flight per deployment.", ("deployment",)),
    "headway_queue_depth": ("Requests waiting in the admission queue.", ("queue",)),
    "headway_review_queue_items": ("Review items waiting for a decision.", ()),
    "headway_review_queue_oldest_age_seconds": ("Age of the oldest review item waiting.", ()),
    "headway_request_log_buffered_records": ("Request records in memory, not yet in the store.", ()),
    "headway_request_log_capacity_records": ("Capacity of the request-record buffer.", ()),
    "headway_request_log_spilled_records": ("Request records in the spill journal awaiting replay.", ()),
    "headway_request_log_overflowed_records": ("Records that found the buffer full and went to the journal.", ()),
    "headway_request_log_store_up": ("1 when the last write to the store succeeded.", ()),
    "headway_request_log_erased_dropped_records": (
        "Records refused since start: their data subject was erased after they were made.", ()
    ),
    "headway_alert_firing": ("1 while an alert rule is firing.", ("rule", "severity")),
}

# The answer paths an operator watches; ``served_path`` folds every ``served_by`` label into one.
SERVED_PATHS = ("primary", "retry", "hedge", "fallback", "cache", "stale-cache", "degraded", "error")


def served_path(served_by: str | None, status_code: int) -> str:
    """Which path answered: ``fallback:<model>`` is ``fallback``, any 4xx/5xx is ``error``."""
    if status_code >= 400 or status_code == 0:
        return "error"
    label = served_by or "primary"
    if label.startswith("fallback"):
        return "fallback"
    if label == "stale-cache":
        return "stale-cache"
    if label.startswith("cache"):
        return "cache"
    return label if label in SERVED_PATHS else "primary"


# Shapes of record whose children are kept resolved; beyond it (label values from hostile
# input) each record resolves its children again instead of growing the cache.
_MAX_PLANS = 10_000

BREAKER_STATE_VALUES = {"closed": 0.0, "half_open": 1.0, "half-open": 1.0, "halfopen": 1.0, "open": 2.0}


class _CallbackCollector(Collector):
    """Reads the watched sources at scrape time; a failing source drops its family, not the scrape."""

    def __init__(self) -> None:
        self.sources: dict[str, list[GaugeSource]] = {}

    def collect(self) -> Iterable[Metric]:
        for name, sources in self.sources.items():
            documentation, labels = CALLBACK_GAUGES[name]
            family = GaugeMetricFamily(name, documentation, labels=list(labels))
            for source in sources:
                try:
                    for label_values, value in source():
                        family.add_metric([str(v) for v in label_values], float(value))
                except Exception:  # a broken source must not break every other series
                    log.exception("metrics source for %s failed", name)
            yield family

    def describe(self) -> Iterable[Metric]:
        return []


class Metrics:
    def __init__(self, *, buckets: Sequence[float], enabled: bool = True) -> None:
        self.enabled = enabled
        self.registry = CollectorRegistry(auto_describe=False)
        r = self.registry
        self._requests = Counter(
            "headway_requests_total", "Finished requests.",
            ("endpoint", "model", "deployment", "status", "served_by"), registry=r,
        )
        self._duration = Histogram(
            "headway_request_duration_seconds", "Request latency, first byte in to last byte out.",
            ("endpoint", "model"), buckets=buckets, registry=r,
        )
        self._ttft = Histogram(
            "headway_time_to_first_token_seconds", "Time to the first streamed token.",
            ("model",), buckets=buckets, registry=r,
        )
        self._tokens = Counter(
            "headway_tokens_total", "Tokens by type: input, output, cache_read, reasoning.",
            ("model", "deployment", "type"), registry=r,
        )
        self._cost = Counter("headway_cost_usd_total", "Cost in USD.", ("model", "team"), registry=r)
        self._cache_hits = Counter("headway_cache_hits_total", "Requests answered from the cache.", ("model", "served_by"), registry=r)
        self._fallbacks = Counter(
            "headway_fallbacks_total", "Requests answered by a fallback path (another model, stale cache, degraded).",
            ("model", "served_by"), registry=r,
        )
        self._answers = Counter(
            "headway_answers_total",
            "Finished requests by the path that answered: primary, retry, hedge, fallback, cache, stale-cache, degraded, error.",
            ("model", "path"), registry=r,
        )
        self._retries = Counter(
            "headway_retries_total", "Upstream calls made after a request's first one (retries, hedges, fallbacks).",
            ("model",), registry=r,
        )
        self._contracts = Counter(
            "headway_output_contract_total", "Answers checked against an output contract: passed, repaired, failed.",
            ("model", "outcome"), registry=r,
        )
        self._contract_repairs = Counter(
            "headway_output_contract_repairs_total", "Repair re-asks sent because an answer broke its output contract.",
            ("model",), registry=r,
        )
        self._attempts = Counter(
            "headway_upstream_attempts_total", "Calls to upstream deployments.",
            ("deployment", "outcome", "error_type"), registry=r,
        )
        self._attempt_duration = Histogram(
            "headway_upstream_attempt_duration_seconds", "Latency of each upstream call.",
            ("deployment",), buckets=buckets, registry=r,
        )
        self._limit_rejections = Counter("headway_limit_rejections_total", "Requests refused by a limit.", ("limit",), registry=r)
        self._queue_wait = Histogram(
            "headway_queue_wait_seconds", "Time requests waited in the admission queue.", ("queue",), buckets=buckets, registry=r
        )
        self._pipeline_runs = Counter("headway_pipeline_runs_total", "Pipeline runs by outcome.", ("pipeline", "status"), registry=r)
        self._feedback = Counter("headway_feedback_total", "User feedback received.", ("kind",), registry=r)
        self._alerts = Counter("headway_alert_notifications_total", "Alert transitions delivered.", ("rule", "state"), registry=r)
        build = GaugeMetricFamily("headway_build_info", "Headway version.", labels=["version"])
        build.add_metric([__version__], 1.0)
        self._callbacks = _CallbackCollector()
        r.register(self._callbacks)
        r.register(_Constant([build]))
        # One dict of bound children for every labelled series: the hot path does one lookup each.
        self._children: dict[tuple[Any, ...], Any] = {}
        self._plans: dict[tuple[Any, ...], _Plan] = {}

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    # -- per request ---------------------------------------------------------------------
    def observe(self, record: RequestRecord) -> None:
        if not self.enabled:
            return
        attempts = record.attempts
        # Everything but the amounts repeats from request to request: the children are resolved
        # once per shape (labels, status, path, attempt outcomes) and reused.
        if len(attempts) == 1:
            first = attempts[0]
            tried: tuple[Any, ...] = (first.deployment, first.outcome, first.error_type)
        else:
            tried = tuple((a.deployment, a.outcome, a.error_type) for a in attempts)
        quality = record.quality
        contract = quality.get("contract") if quality else None
        if contract:
            contract = str(contract)
        key = (record.endpoint, record.model, record.deployment, record.status_code, record.served_by, contract, tried)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plan(record, contract)
            if len(self._plans) < _MAX_PLANS:
                self._plans[key] = plan
        plan.requests.inc()
        plan.duration.observe(record.latency_ms / 1000)
        model = record.model
        if record.ttft_ms is not None:
            self._child(self._ttft, model).observe(record.ttft_ms / 1000)
        if record.input_tokens:
            plan.tokens("input").inc(record.input_tokens)
        if record.output_tokens:
            plan.tokens("output").inc(record.output_tokens)
        if record.cache_read_tokens:
            plan.tokens("cache_read").inc(record.cache_read_tokens)
        if record.reasoning_tokens:
            plan.tokens("reasoning").inc(record.reasoning_tokens)
        if record.cost_usd:
            self._child(self._cost, model, record.team or "").inc(record.cost_usd)
        if plan.path is not None:
            plan.path.inc()
        plan.answers.inc()
        if plan.contract is not None:
            plan.contract.inc()
            repairs = quality.get("contract_repairs")
            if isinstance(repairs, int) and repairs > 0:
                self._child(self._contract_repairs, model).inc(repairs)
        if plan.retried is not None:
            plan.retried.inc(plan.retries)
        for (counted, timed), attempt in zip(plan.attempts, attempts, strict=True):
            counted.inc()
            timed.observe(attempt.latency_ms / 1000)

    def _plan(self, record: RequestRecord, contract: Any) -> _Plan:
        """The children one shape of record touches; the token children appear when first used."""
        child = self._child
        model = record.model
        deployment = record.deployment or ""
        served_by = record.served_by or ""
        if served_by.startswith("cache"):
            path = child(self._cache_hits, model, served_by)
        elif served_by and served_by != "primary":
            path = child(self._fallbacks, model, served_by)
        else:
            path = None
        made = sum(1 for attempt in record.attempts if attempt.outcome != "skipped")
        return _Plan(
            requests=child(self._requests, record.endpoint, model, deployment, str(record.status_code), served_by),
            duration=child(self._duration, record.endpoint, model),
            answers=child(self._answers, model, served_path(record.served_by, record.status_code)),
            path=path,
            contract=child(self._contracts, model, contract) if contract else None,
            retries=made - 1 if made > 1 else 0,
            retried=child(self._retries, model) if made > 1 else None,
            attempts=tuple(
                (child(self._attempts, a.deployment, a.outcome, a.error_type or ""), child(self._attempt_duration, a.deployment))
                for a in record.attempts
            ),
            tokens=lambda kind: child(self._tokens, model, deployment, kind),
        )

    # -- reported by other parts -----------------------------------------------------------
    def limit_rejected(self, limit: str) -> None:
        """A request was refused by ``limit`` (e.g. ``rpm``, ``tpm``, ``budget``, ``concurrency``, ``queue_full``)."""
        if self.enabled:
            self._child(self._limit_rejections, limit).inc()

    def queue_wait(self, seconds: float, queue: str = "default") -> None:
        """A request left the admission queue after ``seconds``."""
        if self.enabled:
            self._child(self._queue_wait, queue).observe(seconds)

    def pipeline_run(self, pipeline: str, status: str) -> None:
        """A pipeline run finished with ``status`` (ok, warn, degraded, failed)."""
        if self.enabled:
            self._child(self._pipeline_runs, pipeline, status).inc()

    def feedback(self, kind: str) -> None:
        if self.enabled:
            self._child(self._feedback, kind).inc()

    def alert_notified(self, rule: str, state: str) -> None:
        if self.enabled:
            self._child(self._alerts, rule, state).inc()

    def watch(self, name: str, source: GaugeSource) -> None:
        """Read ``source`` at every scrape for the callback gauge ``name`` (see ``CALLBACK_GAUGES``)."""
        if name not in CALLBACK_GAUGES:
            raise KeyError(f"unknown callback gauge {name!r}; declare it in CALLBACK_GAUGES and the docs")
        self._callbacks.sources.setdefault(name, []).append(source)

    def watch_mapping(self, name: str, source: Callable[[], Mapping[str, float]]) -> None:
        """``watch`` for one-label gauges whose source returns ``{label value: value}``."""
        self.watch(name, lambda: (((key,), value) for key, value in source().items()))

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def samples(self, prefixes: Sequence[str]) -> dict[str, list[tuple[dict[str, str], float]]]:
        """This process's samples whose names start with one of ``prefixes`` (the console reads these).

        Histogram buckets and ``_created`` timestamps are left out: the console shows counts, sums and states.
        """
        out: dict[str, list[tuple[dict[str, str], float]]] = {}
        for family in self.registry.collect():
            for sample in family.samples:
                name = sample.name
                if not name.startswith(tuple(prefixes)) or name.endswith(("_bucket", "_created")):
                    continue
                out.setdefault(name, []).append((dict(sample.labels), float(sample.value)))
        return out


@dataclass(frozen=True, slots=True)
class _Plan:
    """The metric children of one shape of request record (see ``Metrics.observe``)."""

    requests: Any
    duration: Any
    answers: Any
    path: Any | None  # cache hits or fallbacks, by the path that answered
    contract: Any | None
    retries: int
    retried: Any | None
    attempts: tuple[tuple[Any, Any], ...]  # (count, duration) per attempt, in order
    tokens: Callable[[str], Any]


class _Constant(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return list(self._families)
