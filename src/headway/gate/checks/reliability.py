"""Reliability and fallback: timeouts, retries, fallback paths, degraded mode, breakers, the drill."""

from __future__ import annotations

from typing import Any

from headway.config import FallbackCause, HeadwayConfig, ModelConfig, TimeoutConfig
from headway.gate.check import Check
from headway.gate.checks.live import DRILL_FIX as _DRILL_FIX
from headway.gate.checks.live import live
from headway.gate.context import GateContext
from headway.gate.drill import STEPS, DrillRecord, holds
from headway.gate.evidence import EvidenceUnavailable
from headway.gate.results import Finding, failed, partial, passed

_CAUSES: tuple[FallbackCause, ...] = ("error", "timeout", "rate_limit")


def effective_timeouts(model: ModelConfig, index: int) -> dict[str, float | None]:
    """A deployment's timeouts: its own explicit values over the model's (as routing merges them)."""
    route, own = model.timeouts, model.deployments[index].timeouts
    explicit = own.model_fields_set if own is not None else set()
    return {name: getattr(own if name in explicit else route, name) for name in TimeoutConfig.model_fields}


def judge_timeouts(config: HeadwayConfig) -> Finding:
    if not config.models:
        return failed("no models are configured")
    seen: dict[str, Any] = {}
    unbounded: dict[str, list[str]] = {}
    for name, model in config.models.items():
        for index, deployment in enumerate(model.deployments):
            values = effective_timeouts(model, index)
            where = f"models.{name}.deployments.{index} ({deployment.provider}/{deployment.model})"
            seen[where] = {**values, "deadline_s": model.deadline_s}
            missing = [k for k in ("connect", "first_token") if values[k] is None]
            if values["total"] is None and model.deadline_s is None:
                missing.append("total (or deadline_s)")
            if missing:
                unbounded[where] = missing
    if unbounded:
        return failed(
            f"{len(unbounded)} deployment(s) can wait forever: " + "; ".join(f"{w} has no {', '.join(m)}" for w, m in unbounded.items()),
            unbounded=unbounded,
            timeouts=seen,
        )
    return passed("every deployment has connect, first-token and total timeouts", timeouts=seen)


def judge_retries(config: HeadwayConfig) -> Finding:
    policy = {name: {"max_retries": m.retries.max_retries, "on": list(m.retries.on)} for name, m in config.models.items()}
    off = [name for name, m in config.models.items() if m.retries.max_retries < 1 or not m.retries.on]
    if not config.models:
        return failed("no models are configured")
    if off:
        return failed(f"no retries for: {', '.join(off)}", without_retries=off, retries=policy)
    return passed("every model retries transient upstream failures", retries=policy)


def fallback_path(model: ModelConfig) -> dict[str, Any]:
    covered = {cause: model.fallback_chain(cause) for cause in _CAUSES}
    providers = sorted({d.provider for d in model.deployments})
    return {
        "fallbacks": {cause: chain for cause, chain in covered.items() if chain},
        "providers": providers,
        "has_path": len(providers) >= 2 or all(covered.values()),
    }


def judge_fallbacks(config: HeadwayConfig) -> Finding:
    if not config.models:
        return failed("no models are configured")
    paths = {name: fallback_path(m) for name, m in config.models.items()}
    missing = [name for name, path in paths.items() if not path["has_path"]]
    if missing:
        return failed(
            f"no fallback path for: {', '.join(missing)} (one provider and no fallback model for errors, timeouts "
            "and rate limits)",
            without_fallback=missing,
            paths=paths,
        )
    return passed("every model can fail over: a fallback model for every cause, or deployments on two providers", paths=paths)


def judge_degraded(config: HeadwayConfig) -> Finding:
    chat = {name: m for name, m in config.models.items() if m.kind == "chat"}
    if not chat:
        return failed("no chat models are configured")
    modes = {name: (m.degraded.model_dump(exclude_none=True) if m.degraded else None) for name, m in chat.items()}
    missing = [name for name, mode in modes.items() if mode is None]
    if missing:
        return failed(f"no degraded mode for: {', '.join(missing)}", without_degraded=missing, degraded=modes)
    return passed("every chat model has a degraded mode (a simpler model or a fixed message)", degraded=modes)


async def breakers(ctx: GateContext) -> Finding:
    config = ctx.need_config()
    declared = {name: m.breaker.enabled for name, m in config.models.items()}
    try:
        data = await ctx.api("/admin/deployments")
    except EvidenceUnavailable as exc:
        if all(declared.values()) and declared:
            return partial(
                "breakers are enabled in the config, but the live breakers could not be read",
                fix="Upgrade the deployment so GET /admin/deployments answers, and give the gate an operator or admin key.",
                declared=declared,
                live_error=str(exc),
            )
        return failed("breakers are disabled in the config", declared=declared, live_error=str(exc))
    live: dict[str, Any] = {}
    disabled: list[str] = []
    for route in data.get("data") or []:
        for deployment in route.get("deployments") or []:
            where = f"{route.get('model')}/{deployment.get('id')}"
            live[where] = {"enabled": deployment.get("breaker_enabled", True), "state": deployment.get("state")}
            if deployment.get("breaker_enabled") is False:
                disabled.append(where)
    if not live:
        return failed("the deployment reports no deployments at all", live=live)
    if disabled:
        return failed(f"circuit breakers are off for: {', '.join(disabled)}", disabled=disabled, live=live)
    return passed(f"all {len(live)} deployments have a live circuit breaker", live=live)




async def drill(ctx: GateContext) -> Finding:
    record, why = await ctx.latest_drill()
    if record is not None and not why:
        return await _judge_drill(ctx, record)
    organic = await _organic(ctx)
    evidence: dict[str, Any] = {"drill": record.id if record else None, "refused": why, **organic}
    if record is not None:
        evidence["drill_binding"] = record.binding
    return failed(
        f"no fault drill counts for this deployment: {'; '.join(why)}",
        fix=_DRILL_FIX,
        **evidence,
    )


async def _judge_drill(ctx: GateContext, record: DrillRecord) -> Finding:
    age = ctx.age_days(record.finished_at)
    fault_steps = [s for s in record.steps if s.name in STEPS]
    evidence: dict[str, Any] = {
        "drill": record.id,
        "model": record.model,
        "age_days": round(age, 2),
        "binding": record.binding,
        "steps": {s.name: ("skipped" if s.passed is None else "ok" if s.passed else f"FAILED: {s.detail}") for s in fault_steps},
    }
    failed_steps = [s for s in fault_steps if s.passed is False]
    missing = [name for name in STEPS if name != "degraded" and record.step(name) is None]
    if failed_steps or missing:
        names = [s.name for s in failed_steps] + missing
        return failed(f"the latest fault drill failed: {', '.join(names)}", fix=_DRILL_FIX, **evidence)
    # Re-read each step's request from the log: a drill record alone is a claim, the log is the measurement.
    unverified = []
    for step in fault_steps:
        if step.passed and step.request_id:
            fetched = await ctx.fetch(f"/admin/requests/{step.request_id}")
            if not fetched.ok or not holds(step.name, fetched.json(), record.deployments):
                unverified.append(step.name)
    if unverified:
        evidence["unverified"] = unverified
        return failed(
            f"the drill's requests for {', '.join(unverified)} are not in the request log to confirm it",
            fix=_DRILL_FIX,
            **evidence,
        )
    return passed(f"a fault drill {age:.1f} days ago, under this config, exercised retry, fallback and breaker, confirmed by the request log", **evidence)


async def _organic(ctx: GateContext) -> dict[str, Any]:
    try:
        records = await ctx.recent_requests()
    except EvidenceUnavailable as exc:
        return {"fallback": 0, "retry": 0, "breaker": 0, "request_log": str(exc)}
    served = [str(r.get("served_by") or "") for r in records]
    opened = sum(
        1 for r in records if any(isinstance(a, dict) and a.get("error_type") == "circuit_open" for a in r.get("attempts") or [])
    )
    return {
        "recent_requests": len(records),
        "fallback": sum(1 for s in served if s.startswith("fallback:") or s in ("degraded", "stale-cache")),
        "retry": served.count("retry"),
        "breaker": opened,
    }


CHECKS = (
    Check(
        "reliability.timeouts", "reliability", "Every model has timeouts",
        "The config: each deployment's connect, first-token and total timeouts (or the model's deadline_s).",
        "Set `timeouts: {connect, first_token, total}` on every model (or on its deployments).",
        live(judge_timeouts),
    ),
    Check(
        "reliability.retries", "reliability", "Transient failures are retried",
        "The config: each model's `retries.max_retries` (at least 1) and `retries.on`.",
        "Set `retries: {max_retries: 2}` on every model.",
        live(judge_retries, "retry"),
    ),
    Check(
        "reliability.fallbacks", "reliability", "Every model has a fallback path",
        "The config: a fallback model for errors, timeouts and rate limits, or deployments on two providers.",
        "Give every model `fallbacks: [another-model]`, or a second deployment on another provider.",
        live(judge_fallbacks, "fallback"),
    ),
    Check(
        "reliability.degraded", "reliability", "Chat models have a degraded mode",
        "The config: `degraded` (a simpler model or a fixed message) on every chat model.",
        "Add `degraded: {message: \"…\"}` (or `{model: small-model}`) to every chat model.",
        live(judge_degraded, "degraded"),
    ),
    Check(
        "reliability.breakers", "reliability", "Circuit breakers are live",
        "GET /admin/deployments: every deployment's breaker is enabled (the config when the live view is unavailable).",
        "Remove `breaker: {enabled: false}` from the models listed.",
        breakers,
    ),
    Check(
        "reliability.drill", "reliability", "Retries, fallbacks and breakers were exercised",
        "The latest fault drill (GET /admin/gate/drills), re-verified against the request log; else recent records "
        "served by fallbacks with breaker skips (manual evidence).",
        "Run `headway gate --drill` against a staging deployment whose providers point at `headway sim`.",
        drill,
    ),
)
