"""Alert rules: measure, decide, transition once, notify.

Each evaluation measures every rule over the request log (or the part that owns the
signal), then asks ``AlertStateStore`` to move the rule between ``ok`` and ``firing``.
The store's conditional update lets exactly one replica win each transition, so an
incident is announced once and resolved once however many replicas evaluate. Winners
notify the log and the signed webhooks.

A rule with too little data (fewer than ``min_requests``, or a signal whose part is not
installed) measures ``None`` and counts as not breaching: a firing alert resolves when
its traffic stops.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import orjson
from sqlalchemy import Connection, and_, case, func, or_, select, text

from headway.config import AlertRuleConfig
from headway.errors import StoreUnavailableError
from headway.observe.alert_state import AlertStateStore, Transition
from headway.store import Database, requests

log = logging.getLogger("headway.alerts")

# Most rows read for a percentile; beyond it the newest rows stand for the window.
PERCENTILE_ROW_CAP = 100_000

# () -> (items waiting, age in seconds of the oldest) or None when no review part is installed.
ReviewBacklog = Callable[[], "tuple[int, float | None] | None"]
# () -> (breakers open now, their deployment keys) or None when the breaker states are unknown.
OpenBreakers = Callable[[], "tuple[int, list[str]] | None"]
Notify = Callable[[Transition, AlertRuleConfig], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Measurement:
    value: float | None  # None: not enough data to judge
    detail: str


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (the value at rank ceil(q·n)), as Prometheus-free tools report it."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


class AlertMeasurer:
    def __init__(
        self, database: Database, *, review_backlog: ReviewBacklog | None = None, open_breakers: OpenBreakers | None = None
    ) -> None:
        self.database = database
        self.review_backlog = review_backlog
        self.open_breakers = open_breakers

    def measure(self, rule: AlertRuleConfig, now: float) -> Measurement:
        if rule.kind == "breaker_open":
            return self._breakers()
        since = now - rule.window_s
        window = requests.c.created_at >= since
        if rule.model:
            window = and_(window, requests.c.model == rule.model)
        with self.database.connect("measure an alert rule") as connection:
            if rule.kind in ("error_rate", "fallback_rate", "degraded_rate", "retrieval_failures"):
                served = requests.c.served_by
                answered = requests.c.status_code < 400
                if rule.kind == "error_rate":
                    bad = requests.c.status_code >= 500
                elif rule.kind == "fallback_rate":
                    # Answered, but not by the model asked for: another model, a stale cached answer, the
                    # degraded message. Retries and hedges reached the asked model, so they do not count.
                    bad = and_(answered, or_(served.like("fallback%"), served.in_(("stale-cache", "degraded"))))
                elif rule.kind == "degraded_rate":
                    bad = and_(answered, served == "degraded")
                else:
                    retrieval = requests.c.quality[("retrieval", "status")].as_string()
                    window = and_(window, retrieval.is_not(None))
                    bad = retrieval == "failed"
                total, flagged = connection.execute(
                    select(func.count(), func.coalesce(func.sum(case((bad, 1), else_=0)), 0)).where(window)
                ).one()
                if total < rule.min_requests:
                    return Measurement(None, f"{total} requests in {rule.window_s:g}s (< {rule.min_requests})")
                return Measurement(flagged / total, f"{flagged} of {total} requests in {rule.window_s:g}s")
            if rule.kind == "latency_p95":
                rows = connection.execute(
                    select(requests.c.latency_ms).where(window).order_by(requests.c.created_at.desc()).limit(PERCENTILE_ROW_CAP)
                ).all()
                if len(rows) < rule.min_requests:
                    return Measurement(None, f"{len(rows)} requests in {rule.window_s:g}s (< {rule.min_requests})")
                p95 = percentile([r[0] for r in rows], 0.95)
                return Measurement(p95, f"p95 {p95:.1f} ms over {len(rows)} requests in {rule.window_s:g}s")
            if rule.kind == "cost_per_hour":
                spent = connection.execute(select(func.coalesce(func.sum(requests.c.cost_usd), 0.0)).where(window)).scalar_one()
                per_hour = float(spent) * 3600 / rule.window_s
                return Measurement(per_hour, f"${spent:.4f} in {rule.window_s:g}s = ${per_hour:.4f}/hour")
            if rule.kind == "pipeline_failures":
                return self._pipeline_failures(connection, since, rule)
        if rule.kind == "review_backlog":
            backlog = self.review_backlog() if self.review_backlog else None
            if backlog is None:
                return Measurement(None, "no review queue in this gateway")
            size, oldest = backlog
            if rule.measure == "size":
                return Measurement(float(size), f"{size} review items waiting")
            return Measurement(oldest or 0.0, f"oldest review item waiting {oldest or 0:.0f}s")
        raise ValueError(f"unknown alert kind {rule.kind!r}")

    def _breakers(self) -> Measurement:
        known = self.open_breakers() if self.open_breakers else None
        if known is None:
            return Measurement(None, "breaker states are not known in this gateway")
        count, keys = known
        if not count:
            return Measurement(0.0, "every circuit breaker is closed")
        return Measurement(float(count), f"{count} circuit breaker(s) open: {', '.join(keys)}")

    @staticmethod
    def _pipeline_failures(connection: Connection, since: float, rule: AlertRuleConfig) -> Measurement:
        # The pipelines part owns the table (migrated with every store); read it by name so this
        # part does not import that one.
        count = connection.execute(
            text("SELECT count(*) FROM pipeline_runs WHERE status = 'failed' AND started_at >= :since"),
            {"since": since},
        ).scalar_one()
        return Measurement(float(count), f"{count} failed pipeline runs in {rule.window_s:g}s")


class AlertEvaluator:
    def __init__(
        self,
        rules: list[AlertRuleConfig],
        measurer: AlertMeasurer,
        states: AlertStateStore,
        notify: Notify,
    ) -> None:
        self.rules = rules
        self.measurer = measurer
        self.states = states
        self.notify = notify

    def decide(self, now: float | None = None) -> list[tuple[Transition, AlertRuleConfig]]:
        """Measure every rule and apply transitions (synchronous: runs in a worker thread)."""
        now = time.time() if now is None else now
        changed = []
        for rule in self.rules:
            try:
                measured = self.measurer.measure(rule, now)
                breaching = measured.value is not None and measured.value > rule.threshold
                transition = self.states.apply(rule, breaching=breaching, value=measured.value, detail=measured.detail, now=now)
            except StoreUnavailableError as exc:
                log.warning("alert rule %s could not be evaluated: %s", rule.name, exc)
                continue
            except Exception:
                # A bug (not an outage): logged with its traceback; one rule's bug must not silence the others.
                log.exception("alert rule %s failed", rule.name)
                continue
            if transition is not None:
                changed.append((transition, rule))
        return changed

    async def run_once(self, now: float | None = None) -> list[Transition]:
        changed = await asyncio.to_thread(self.decide, now)
        for transition, rule in changed:
            await self.notify(transition, rule)
        return [t for t, _ in changed]


def notification_body(transition: Transition, rule: AlertRuleConfig) -> bytes:
    incident = transition.incident
    return orjson.dumps(
        {
            "type": f"alert.{transition.state}",
            "timestamp": transition.at,
            "data": {
                "incident_id": incident.incident_id,
                "rule": rule.name,
                "kind": rule.kind,
                "severity": rule.severity,
                "state": transition.state,
                "value": transition.value,
                "threshold": rule.threshold,
                "window_s": rule.window_s,
                "model": rule.model,
                "fired_at": incident.fired_at,
                "resolved_at": incident.resolved_at,
                "summary": incident.summary,
            },
        }
    )

