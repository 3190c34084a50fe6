"""Observability: metrics are emitted, traces exported, cost recorded, alerts routed, the process ready."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from headway.gate.check import Check
from headway.gate.context import GateContext
from headway.gate.evidence import EvidenceUnavailable
from headway.gate.results import Finding, failed, partial, passed, unknown

_ALERT_KINDS = ("error_rate", "latency_p95")


def metric_samples(text: str) -> dict[str, int]:
    """Samples per metric family in a Prometheus exposition; counters under both names (``x`` and ``x_total``)."""
    counts: dict[str, int] = {}
    for family in text_string_to_metric_families(text):
        names = {family.name}
        if family.type == "counter":
            names.add(family.name + "_total")
        for name in names:
            counts[name] = counts.get(name, 0) + len(family.samples)
    return counts


async def metrics(ctx: GateContext) -> Finding:
    fetched = await ctx.fetch("/metrics")
    wanted = ctx.profile.evidence.metrics
    if fetched.status == 404:
        return failed("GET /metrics answers 404: metrics are off", fix="Set `observe: {metrics: {enabled: true}}`.", response=fetched.describe())
    if not fetched.ok:
        raise EvidenceUnavailable(fetched.describe())
    try:
        counts = metric_samples(fetched.text())
    except ValueError as exc:
        return failed(f"GET /metrics is not a Prometheus exposition: {exc}")
    found = {name: counts.get(name) for name in wanted}
    missing = [name for name, n in found.items() if n is None]
    if missing:
        return failed(f"metrics missing from /metrics: {', '.join(missing)}", samples=found)
    empty = [name for name, n in found.items() if not n]
    if empty:
        return partial(
            f"the metrics exist but have no samples yet: {', '.join(empty)}",
            fix="Send traffic through the gateway (or run `headway gate --drill`) and gate again.",
            samples=found,
        )
    return passed(f"/metrics carries all {len(wanted)} expected metrics with samples", samples=found)


async def tracing(ctx: GateContext) -> Finding:
    try:
        facts = await ctx.facts()
    except EvidenceUnavailable as exc:
        config = ctx.need_config()
        if config.observe.tracing.enabled == "off":
            return failed("tracing is off in the config", reason=str(exc))
        return unknown(f"the running process's tracing state cannot be read ({exc})", configured=config.observe.tracing.enabled)
    state = facts.get("tracing") or {}
    if not state.get("enabled"):
        return failed(
            "the running process does not trace (observe.tracing is off, or 'auto' without OTEL_EXPORTER_OTLP_ENDPOINT)",
            tracing=state,
        )
    if state.get("exporter") in (None, "none"):
        return partial("spans are made but exported nowhere", fix="Set `observe.tracing.exporter: otlp` and OTEL_EXPORTER_OTLP_ENDPOINT.", tracing=state)
    return passed(f"the running process exports traces ({state.get('exporter')})", tracing=state)


async def cost(ctx: GateContext) -> Finding:
    records = await ctx.recent_requests()
    answered = [r for r in records if 200 <= int(r.get("status_code") or 0) < 300]
    priced = [r for r in answered if r.get("cost_usd") is not None]
    settings = ctx.profile.evidence
    config = ctx.config
    unpriced = sorted(name for name, m in config.models.items() if m.price is None) if config is not None else []
    evidence: dict[str, Any] = {
        "window_days": settings.window_days,
        "answered": len(answered),
        "with_cost": len(priced),
        "models_without_price": unpriced,
    }
    if len(answered) < settings.min_requests:
        return partial(
            f"only {len(answered)} answered requests in the last {settings.window_days:g} days; "
            f"{settings.min_requests} are needed to measure cost coverage",
            fix="Send traffic through the gateway (or run `headway gate --drill`) and gate again.",
            **evidence,
        )
    coverage = len(priced) / len(answered)
    evidence["coverage"] = round(coverage, 4)
    if coverage < settings.cost_coverage:
        missing = sorted({str(r.get("model")) for r in answered if r.get("cost_usd") is None})
        evidence["models_missing_cost"] = missing
        return failed(
            f"{coverage:.1%} of answered requests have a cost (needs {settings.cost_coverage:.0%}); missing for {', '.join(missing)}",
            **evidence,
        )
    return passed(f"{coverage:.1%} of {len(answered)} recent answered requests carry a cost", **evidence)


async def alerts(ctx: GateContext) -> Finding:
    config = ctx.need_config()
    data = await ctx.api("/admin/alerts")
    rules = [r for r in data.get("rules") or [] if isinstance(r, dict)]
    kinds = sorted({str(r.get("kind")) for r in rules})
    webhooks = [w.url for w in config.observe.alerts.webhooks]
    evidence: dict[str, Any] = {"rules": [f"{r.get('name')} ({r.get('kind')} > {r.get('threshold')}): {r.get('state')}" for r in rules], "webhooks": webhooks}
    if not rules:
        return failed("no alert rules: nobody hears about errors or slowness", **evidence)
    missing = [k for k in _ALERT_KINDS if k not in kinds]
    if missing or not webhooks:
        why = []
        if missing:
            why.append(f"no {' or '.join(missing)} rule")
        if not webhooks:
            why.append("no webhook to deliver them")
        return partial(f"alerts are incomplete: {'; '.join(why)}", **evidence)
    return passed(f"{len(rules)} alert rules (error rate and latency included) deliver to {len(webhooks)} webhook(s)", **evidence)


async def readiness(ctx: GateContext) -> Finding:
    fetched = await ctx.fetch("/readyz", authenticated=False)
    if fetched.status is None:
        raise EvidenceUnavailable(fetched.describe())
    body = fetched.json() if fetched.body else {}
    checks = body.get("checks") if isinstance(body, dict) else None
    if fetched.status != 200:
        return failed(f"/readyz says not ready: {'; '.join(body.get('reasons') or []) or fetched.describe()}", checks=checks)
    log = (checks or {}).get("request_log") or {}
    if log.get("spilled_pending"):
        return partial(
            f"ready, but {log['spilled_pending']} request-log batch(es) wait in the spill journal",
            fix="Check the store: records are spilling to local disk instead of reaching it.",
            checks=checks,
        )
    return passed("/readyz: config loaded, store reachable, request log draining", checks=checks)


CHECKS = (
    Check(
        "observability.metrics", "observability", "Metrics are emitted",
        "GET /metrics: every metric in `evidence.metrics` is present and has samples.",
        "Keep `observe.metrics.enabled: true` and let the gate scrape /metrics with an admin (or observe:read) key.",
        metrics,
    ),
    Check(
        "observability.tracing", "observability", "Traces are exported",
        "GET /admin/gate/facts: the running process has tracing on with an exporter.",
        "Set `observe: {tracing: {enabled: \"on\", exporter: otlp}}` and OTEL_EXPORTER_OTLP_ENDPOINT.",
        tracing,
    ),
    Check(
        "observability.cost", "observability", "Answered requests carry a cost",
        "GET /admin/requests: the share of recent answered (2xx) requests with a cost, at least `evidence.cost_coverage`.",
        "Give every model a `price: {input, output}` (USD per million tokens) unless the built-in table knows it.",
        cost,
    ),
    Check(
        "observability.alerts", "observability", "Alerts reach someone",
        "GET /admin/alerts and the config: error-rate and latency rules, and at least one webhook.",
        "Add `observe.alerts.rules` (kinds error_rate and latency_p95) and `observe.alerts.webhooks`.",
        alerts,
    ),
    Check(
        "observability.readiness", "observability", "The deployment is ready",
        "GET /readyz: store reachable, request log draining, nothing pending in the spill journal.",
        "Fix the store connection named in /readyz's reasons.",
        readiness,
    ),
)
