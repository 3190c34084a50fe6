"""Everything the observe part holds for one runtime, and the one fan-out per finished request.

``Observability.on_record`` is registered as an observer of the request log, so every
record, whichever part finished it, updates metrics, the trace and the request log line
exactly once. Other parts reach the rest through ``runtime.observability``:

- ``.stage("admission")``: a child span of the current request (a null context when off);
- ``.metrics.limit_rejected(name)`` / ``.metrics.queue_wait(s)`` / ``.metrics.pipeline_run(p, status)``;
- ``.metrics.watch(...)`` and ``.watch_review_queue(fn)``: state read at scrape/evaluation time.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

from opentelemetry.trace import Span

from headway.config import HeadwayConfig, ProviderConfig
from headway.observe.alert_delivery import AlertWebhooks, WebhookTarget
from headway.observe.alert_state import AlertStateStore, Transition
from headway.observe.alerts import AlertEvaluator, AlertMeasurer, notification_body
from headway.observe.breaker_states import BreakerStates
from headway.observe.feedback import FeedbackStore
from headway.observe.metrics import Metrics
from headway.observe.periodic import every
from headway.observe.retention import Retention
from headway.observe.tracing import Tracing
from headway.providers import Provider
from headway.store import Outbox, Store
from headway.tasks import cancel_and_wait
from headway.types import RequestRecord

log = logging.getLogger("headway.observe")
request_log = logging.getLogger("headway.requests")
alert_log = logging.getLogger("headway.alerts")

ReviewBacklog = Callable[[], "tuple[int, float | None] | None"]


def request_fields(record: RequestRecord) -> dict[str, Any]:
    """The fields of the one log line per request."""
    return {
        "request_id": record.request_id,
        "endpoint": record.endpoint,
        "model": record.model,
        "status": record.status_code,
        "latency_ms": record.latency_ms,
        "ttft_ms": record.ttft_ms,
        "input_tokens": record.input_tokens,
        "output_tokens": record.output_tokens,
        "cost_usd": record.cost_usd,
        "served_by": record.served_by,
        "deployment": record.deployment,
        "attempts": len(record.attempts),
        "caller": record.caller,
        "team": record.team,
        "error_type": record.error_type,
    }


class Observability:
    def __init__(self, config: HeadwayConfig, store: Store, *, environ: Mapping[str, str] | None = None) -> None:
        observe = config.observe
        self.config = observe
        self.metrics = Metrics(buckets=observe.metrics.latency_buckets, enabled=observe.metrics.enabled)
        self.tracing = Tracing(observe.tracing, environ=environ)
        self.feedback = FeedbackStore(store.database)
        self.alert_states = AlertStateStore(store.database)
        self.retention = Retention(store.database, observe.retention)
        self.webhooks = AlertWebhooks(
            [WebhookTarget(w.url, w.secret.get_secret_value(), w.timeout_s) for w in observe.alerts.webhooks],
            Outbox(store.database),
        )
        self.alerts = AlertEvaluator(
            list(observe.alerts.rules),
            AlertMeasurer(store.database, review_backlog=self._review_backlog, open_breakers=self._open_breakers),
            self.alert_states,
            self._notify,
        )
        # The console's login; None: derived from the runtime's auth part (see headway.console.login).
        self.console_login: Any = None
        secret = observe.console.session_secret
        # Unset: sessions last for this process only (and are not shared between replicas).
        self.console_key = secret.get_secret_value().encode() if secret is not None else secrets.token_bytes(32)
        self._review_source: ReviewBacklog | None = None
        self.breakers: BreakerStates | None = None  # set at start: read by metrics, the console and alerts
        self._request_lines = observe.logs.request_lines
        self.request_lines_written = 0  # lines really emitted (the readiness gate measures this, not the setting)
        self._tasks: list[asyncio.Task[None]] = []

    # -- the API other parts call -------------------------------------------------------------
    def stage(self, name: str, **attributes: Any) -> AbstractContextManager[Span | None]:
        return self.tracing.stage(name, **attributes)

    def wrap_providers(self, providers: dict[str, Provider], configs: Mapping[str, ProviderConfig]) -> dict[str, Provider]:
        return self.tracing.wrap_providers(providers, configs)

    def watch_review_queue(self, source: ReviewBacklog) -> None:
        """``source() -> (items waiting, oldest age in seconds) | None``; feeds metrics and review_backlog alerts."""
        self._review_source = source

        def items() -> Iterable[tuple[Sequence[str], float]]:
            backlog = source()
            return [((), float(backlog[0]))] if backlog else []

        def oldest() -> Iterable[tuple[Sequence[str], float]]:
            backlog = source()
            return [((), float(backlog[1] or 0.0))] if backlog else []

        self.metrics.watch("headway_review_queue_items", items)
        self.metrics.watch("headway_review_queue_oldest_age_seconds", oldest)

    def _review_backlog(self) -> tuple[int, float | None] | None:
        return self._review_source() if self._review_source is not None else None

    def _open_breakers(self) -> tuple[int, list[str]] | None:
        return self.breakers.open_count() if self.breakers is not None else None

    # -- the fan-out ---------------------------------------------------------------------------
    def on_record(self, record: RequestRecord) -> None:
        self.metrics.observe(record)
        self.tracing.on_record(record)
        if self._request_lines:
            level = logging.WARNING if record.status_code >= 500 else logging.INFO
            if request_log.isEnabledFor(level):
                request_log.log(level, "request", extra=request_fields(record))
                self.request_lines_written += 1

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self, runtime: Any) -> None:
        runtime.request_log.add_observer(self.on_record)
        self._watch_runtime(runtime)
        if self.breakers is not None and not callable(getattr(self.breakers.breakers, "circuits", None)):
            # Shared (Redis) breakers: refresh the copy that scrapes, the console and alerts read.
            self._tasks.append(asyncio.create_task(every(2.0, self.breakers.refresh, name="breaker states"), name="headway-breakers"))
        if self.alerts.rules:
            interval = self.config.alerts.interval_s
            self._tasks.append(asyncio.create_task(every(interval, self.alerts.run_once, name="alert evaluation"), name="headway-alerts"))
        retention = self.retention

        async def prune() -> None:
            await asyncio.to_thread(retention.prune)

        self._tasks.append(
            asyncio.create_task(
                every(self.config.retention.interval_s, prune, name="retention", first_delay=min(60.0, self.config.retention.interval_s)),
                name="headway-retention",
            )
        )

    async def close(self) -> None:
        await cancel_and_wait(*self._tasks)
        self._tasks.clear()
        await self.webhooks.close()
        await asyncio.to_thread(self.tracing.shutdown)

    def _watch_runtime(self, runtime: Any) -> None:
        request_log_ = runtime.request_log

        def log_gauge(field: str) -> Callable[[], Iterable[tuple[Sequence[str], float]]]:
            def read() -> Iterable[tuple[Sequence[str], float]]:
                return [((), float(getattr(request_log_.health(), field)))]

            return read

        for name, field in (
            ("headway_request_log_buffered_records", "buffered"),
            ("headway_request_log_capacity_records", "capacity"),
            ("headway_request_log_spilled_records", "spilled_pending"),
            ("headway_request_log_overflowed_records", "overflowed"),
            ("headway_request_log_store_up", "store_ok"),
        ):
            self.metrics.watch(name, log_gauge(field))
        store = runtime.store
        self.metrics.watch("headway_request_log_erased_dropped_records", lambda: [((), float(store.erased_dropped))])
        self.metrics.watch("headway_deployment_in_flight_requests", lambda: _in_flight(runtime))
        executor = getattr(runtime, "executor", None)
        if executor is not None:
            routes = getattr(runtime, "routes", {})
            self.breakers = BreakerStates(
                executor.breakers, lambda: [d.key for route in routes.values() for d in route.deployments]
            )
            self.metrics.watch("headway_circuit_breaker_state", self.breakers.samples)
        states = self.alert_states
        severities = {rule.name: rule.severity for rule in self.config.alerts.rules}
        self.metrics.watch(
            "headway_alert_firing",
            lambda: [((s.rule, severities.get(s.rule, "")), 1.0 if s.state == "firing" else 0.0) for s in states.states()],
        )

    async def _notify(self, transition: Transition, rule: Any) -> None:
        incident = transition.incident
        level = logging.INFO if transition.state == "resolved" else (logging.ERROR if rule.severity == "critical" else logging.WARNING)
        alert_log.log(
            level,
            f"alert {transition.state}: {incident.summary}",
            extra={"alert": rule.name, "alert_state": transition.state, "incident_id": incident.incident_id, "value": transition.value},
        )
        self.metrics.alert_notified(rule.name, transition.state)
        await self.webhooks.send(f"{incident.incident_id}.{transition.state}", notification_body(transition, rule))


def _in_flight(runtime: Any) -> Iterable[tuple[Sequence[str], float]]:
    for route in getattr(runtime, "routes", {}).values():
        for deployment in route.deployments:
            yield ((getattr(deployment, "key", "") or f"{route.name}/{deployment.id}",), float(deployment.in_flight))
