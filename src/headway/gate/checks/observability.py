"""Observability: metrics are emitted, traces exported, cost recorded, alerts routed, the process ready."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import orjson
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from headway.gate.check import Check
from headway.gate.config_source import PLACEHOLDER
from headway.gate.context import GateContext
from headway.gate.evidence import EvidenceUnavailable
from headway.gate.results import Finding, failed, partial, passed, unknown
from headway.observe import signed_headers

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
            return failed("tracing is off in the config", reason=str(exc), basis="config")
        return unknown(f"the running process's tracing state cannot be read ({exc})", configured=config.observe.tracing.enabled)
    state = facts.get("tracing") or {}
    if not state.get("enabled"):
        return failed(
            "the running process does not trace (observe.tracing is off, or 'auto' without OTEL_EXPORTER_OTLP_ENDPOINT)",
            tracing=state,
        )
    if state.get("exporter") in (None, "none"):
        return failed("spans are made but exported nowhere", fix="Set `observe.tracing.exporter: otlp` and OTEL_EXPORTER_OTLP_ENDPOINT.", tracing=state)
    exports = state.get("exports")
    if not isinstance(exports, dict):
        return partial(
            f"tracing is on ({state.get('exporter')}), but this deployment does not report what its exporter delivered",
            basis="config",
            fix="Upgrade the deployment: GET /admin/gate/facts reports tracing.exports.",
            tracing=state,
        )
    sent, refused = int(exports.get("spans_exported") or 0), int(exports.get("spans_failed") or 0)
    if refused and (not sent or exports.get("last_error")):
        return failed(
            f"the exporter refused or lost {refused} span(s) since start ({exports.get('last_error')}); {sent} delivered",
            fix="Check OTEL_EXPORTER_OTLP_ENDPOINT and that the collector accepts spans; the gateway's log shows the exporter's error.",
            tracing=state,
        )
    if not sent:
        return failed(
            "no span has been exported since the process started",
            fix="Send traffic (or run `headway gate --drill`) and check the collector is reachable.",
            tracing=state,
        )
    return passed(f"{sent} span(s) exported since start ({state.get('exporter')}), none refused", tracing=state)


async def request_lines(ctx: GateContext) -> Finding:
    facts = await ctx.facts()
    logs = facts.get("logs")
    if not isinstance(logs, dict):
        config = ctx.need_config()
        on = config.observe.logs.request_lines
        return (partial if on else failed)(f"request-line logging is {'on' if on else 'off'} in the config", basis="config")
    evidence: dict[str, Any] = {"logs": logs}
    if not logs.get("request_lines"):
        return failed("request-line logging is off: finished requests leave no log line", **evidence)
    written = int(logs.get("request_lines_written") or 0)
    if not written:
        return failed(
            "request-line logging is on, but no request line has been written since start (the log level hides them, or no traffic)",
            fix="Keep `logging.level` at info or lower and send traffic (or run `headway gate --drill`).",
            **evidence,
        )
    return passed(f"{written} request line(s) written since start", **evidence)


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


async def probe_receiver(url: str, secret: str | None, *, timeout_s: float = 5.0) -> tuple[bool, str]:
    """POST a signed test event; (acknowledged with 2xx, what happened). A probe, not a delivery: it is sent directly."""
    body = orjson.dumps({"type": "headway.gate.test", "message": "headway gate: a test event; no action needed", "sent_at": time.time()})
    headers = signed_headers(secret, body) if secret else {"content-type": "application/json"}
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s)) as session,
            session.post(url, data=body, headers=headers) as response,
        ):
            return 200 <= response.status < 300, f"HTTP {response.status}"
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        return False, f"unreachable ({exc.__class__.__name__}: {exc})"


def known_secret(secret: SecretStr | None) -> str | None:
    value = secret.get_secret_value() if secret is not None else None
    return None if not value or value == PLACEHOLDER else value


async def alerts(ctx: GateContext) -> Finding:
    config = ctx.need_config()
    data = await ctx.api("/admin/alerts")
    rules = [r for r in data.get("rules") or [] if isinstance(r, dict)]
    kinds = sorted({str(r.get("kind")) for r in rules})
    webhooks = list(config.observe.alerts.webhooks)
    evidence: dict[str, Any] = {"rules": [f"{r.get('name')} ({r.get('kind')} > {r.get('threshold')}): {r.get('state')}" for r in rules]}
    if not rules:
        return failed("no alert rules: nobody hears about errors or slowness", webhooks=[w.url for w in webhooks], **evidence)
    missing = [k for k in _ALERT_KINDS if k not in kinds]
    if not webhooks:
        return failed("alert rules exist but no receiver (observe.alerts.webhooks) delivers them", **evidence)
    probes: dict[str, str] = {}
    dead, unsigned = [], []
    for hook in webhooks:
        secret = known_secret(hook.secret)
        ok, what = await probe_receiver(hook.url, secret)
        probes[hook.url] = ("acknowledged " if ok else "NOT acknowledged: ") + what + ("" if secret else " (unsigned: the secret is not set where the gate runs)")
        if not ok:
            dead.append(hook.url)
        elif secret is None:
            unsigned.append(hook.url)
    evidence["receivers"] = probes
    if dead:
        return failed(
            f"alert receiver(s) did not acknowledge a test event: {', '.join(dead)}",
            fix="Point observe.alerts.webhooks at a receiver that is up and answers 2xx (Alertmanager, PagerDuty, Slack relay).",
            **evidence,
        )
    if missing:
        return partial(f"alerts are incomplete: no {' or '.join(missing)} rule", **evidence)
    if unsigned:
        return partial(
            f"receivers answered, but the gate could not sign the test event for: {', '.join(unsigned)}",
            fix="Run the gate with the webhook secret's variable set, so it sends the signed event the receiver verifies.",
            **evidence,
        )
    return passed(f"{len(rules)} alert rules (error rate and latency included); {len(webhooks)} receiver(s) acknowledged a signed test event", **evidence)


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
        "GET /admin/gate/facts: spans the running process's exporter delivered (and refused) since start, after a bounded flush.",
        "Set `observe: {tracing: {enabled: \"on\", exporter: otlp}}` and OTEL_EXPORTER_OTLP_ENDPOINT at a collector that accepts spans.",
        tracing,
    ),
    Check(
        "observability.request_lines", "observability", "Every finished request is logged",
        "GET /admin/gate/facts: request-line logging is on and the process has written request lines since start.",
        "Set `observe.logs.request_lines: true` and keep `logging.level` at info.",
        request_lines,
    ),
    Check(
        "observability.cost", "observability", "Answered requests carry a cost",
        "GET /admin/requests: the share of recent answered (2xx) requests with a cost, at least `evidence.cost_coverage`.",
        "Give every model a `price: {input, output}` (USD per million tokens) unless the built-in table knows it.",
        cost,
    ),
    Check(
        "observability.alerts", "observability", "Alerts reach someone",
        "GET /admin/alerts, and a signed test event POSTed to each receiver in observe.alerts.webhooks, which must answer 2xx.",
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
