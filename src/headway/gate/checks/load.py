"""Load and concurrency: a recent load test met the profile's SLOs at the target concurrency; limits exist.

The load checks re-judge the stored measurements against the *profile's* SLOs
(``load.slos``) rather than trusting the verdict the run recorded for its own SLOs: a
run with lax objectives cannot pass a strict gate. A run counts only when it is bound to
the current config and gateway, loaded a declared route and is younger than
``load.max_age_days``; a run that misses an SLO says where the time went, from its own
requests in the gateway's request log.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from headway.config import HeadwayConfig
from headway.gate.binding import Binding
from headway.gate.check import Check
from headway.gate.checks.live import live
from headway.gate.context import GateContext
from headway.gate.evidence import EvidenceUnavailable
from headway.gate.results import Finding, failed, partial, passed
from headway.loadtest import LoadReport, StepReport, evaluate_slos, parse_slo

_NO_RUN_FIX = (
    "Run `headway gate --drill` against this deployment: its load test is saved bound to this config and gateway "
    "(a run from another gateway, model or config does not count)."
)


def step_concurrency(step: StepReport) -> int:
    """Requests the step really held in flight (closed loop: its workers; open loop: the peak)."""
    return step.concurrency if step.concurrency is not None else step.max_in_flight


def _judge(ctx: GateContext, report: LoadReport, steps: list[StepReport]) -> tuple[bool, list[dict[str, Any]]]:
    slos = parse_slo(ctx.profile.load.slos)
    subset = LoadReport(report.started_at, report.finished_at, report.config, steps)
    results = evaluate_slos(subset, slos)
    verdicts = [
        {"slo": r.key, "threshold": r.threshold, "worst": r.worst, "passed": r.passed, "failed_steps": r.failed_steps}
        for r in results
    ]
    return all(r.passed for r in results), verdicts


def _summary(ctx: GateContext, path: Path, report: LoadReport) -> dict[str, Any]:
    return {
        "run": str(path),
        "finished_at": report.finished_at,
        "age_days": round(ctx.age_days(report.finished_at), 2),
        "target": report.config.get("base_url"),
        "model": report.config.get("model"),
        "binding": report.config.get("binding"),
        "steps": [
            {"step": s.label, "concurrency": step_concurrency(s), "requests": s.sent, "error_rate": round(s.error_rate, 4),
             "p95_ms": s.latency_ms.p95 if s.latency_ms else None}
            for s in report.steps
        ],
        "profile_slos": ctx.profile.load.slos,
    }


def bound_run(ctx: GateContext) -> tuple[tuple[Path, LoadReport] | None, list[dict[str, Any]]]:
    """The newest saved run that counts here, and why each newer one was refused."""
    refused: list[dict[str, Any]] = []
    declared = set(ctx.declared())
    for path, report in ctx.load_runs():
        why = ctx.rejections(Binding.from_dict(report.config.get("binding")), ctx.profile.load.max_age_days)
        model = report.config.get("model")
        if declared and model not in declared:
            why.append(f"it loaded {model!r}, which is not a declared route ({', '.join(sorted(declared))})")
        if not why:
            return (path, report), refused
        refused.append({"run": str(path), "target": report.config.get("base_url"), "model": model, "refused": why})
    return None, refused


def _no_run(ctx: GateContext, refused: list[dict[str, Any]]) -> Finding:
    if not refused:
        return failed(f"no load test is saved in {ctx.runs_dir}", fix=_NO_RUN_FIX, runs_dir=str(ctx.runs_dir))
    newest = refused[0]
    return failed(
        f"no load test counts for this deployment; the newest ({newest['run']}) is refused: {'; '.join(newest['refused'])}",
        fix=_NO_RUN_FIX,
        runs_dir=str(ctx.runs_dir),
        refused=refused[:5],
    )


async def where_time_went(ctx: GateContext, report: LoadReport) -> dict[str, Any]:
    """From the run's own records in the gateway's request log: queue and overhead, upstream, retries and fallbacks."""
    model = report.config.get("model")
    try:
        mine, complete = await ctx.requests_between(
            str(model) if model else None, report.started_at - 1, report.finished_at + 1
        )
    except EvidenceUnavailable as exc:
        return {"unavailable": str(exc)}
    if not mine:
        return {"records": 0, "note": "the run's requests are not in the request log (purged, or another gateway)"}
    total = upstream = wasted = 0.0
    retried = fell_back = 0
    for r in mine:
        attempts = [a for a in r.get("attempts") or [] if isinstance(a, dict)]
        total += float(r.get("latency_ms") or 0)
        ok = [float(a.get("latency_ms") or 0) for a in attempts if a.get("outcome") == "ok"]
        upstream += sum(ok)
        wasted += sum(float(a.get("latency_ms") or 0) for a in attempts if a.get("outcome") != "ok")
        served = str(r.get("served_by") or "")
        retried += served == "retry"
        fell_back += served.startswith("fallback:") or served in ("degraded", "stale-cache")
    n = len(mine)
    own = max(0.0, total - upstream - wasted)
    return {
        "records": n,
        "mean_ms": round(total / n, 1),
        "upstream_ms": round(upstream / n, 1),
        "retries_and_fallbacks_ms": round(wasted / n, 1),
        "queue_and_headway_ms": round(own / n, 1),
        "retried": retried,
        "fell_back": fell_back,
        "errors": sum(1 for r in mine if not 200 <= int(r.get("status_code") or 0) < 300),
        "complete": complete,  # False: the run had more records than the pages read; these are its newest
    }


def _explained(breakdown: dict[str, Any]) -> str:
    if not breakdown.get("records"):
        return ""
    parts = {
        "the upstream": breakdown["upstream_ms"],
        "failed attempts (retries, fallbacks)": breakdown["retries_and_fallbacks_ms"],
        "queueing and Headway's own work": breakdown["queue_and_headway_ms"],
    }
    top = max(parts, key=lambda k: parts[k])
    return (
        f"; time went mostly to {top}: mean {breakdown['mean_ms']:g} ms = upstream {breakdown['upstream_ms']:g} + failed attempts "
        f"{breakdown['retries_and_fallbacks_ms']:g} + queue/Headway {breakdown['queue_and_headway_ms']:g} "
        f"({breakdown['retried']} retried, {breakdown['fell_back']} fell back, {breakdown['errors']} errors of {breakdown['records']})"
    )


async def slos_met(ctx: GateContext) -> Finding:
    found, refused = bound_run(ctx)
    if found is None:
        return _no_run(ctx, refused)
    path, report = found
    evidence = _summary(ctx, path, report)
    if refused:
        evidence["refused_newer"] = refused[:5]
    ok, verdicts = _judge(ctx, report, report.steps)
    evidence["slo_results"] = verdicts
    if not ok:
        evidence["where_time_went"] = breakdown = await where_time_went(ctx, report)
        broken = ", ".join(f"{v['slo']} (worst {v['worst']}, limit {v['threshold']:g})" for v in verdicts if not v["passed"])
        return failed(f"the latest load test missed the profile's SLOs: {broken}{_explained(breakdown)}", **evidence)
    age = ctx.age_days(report.finished_at)
    return passed(f"a load test {age:.1f} days ago, under this config, met {ctx.profile.load.slos}", **evidence)


async def at_target(ctx: GateContext) -> Finding:
    target = ctx.profile.load.target_concurrency
    found, refused = bound_run(ctx)
    if found is None:
        return _no_run(ctx, refused)
    path, report = found
    evidence: dict[str, Any] = {**_summary(ctx, path, report), "target_concurrency": target}
    steps = [s for s in report.steps if step_concurrency(s) >= target]
    if not steps:
        reached = max((step_concurrency(s) for s in report.steps), default=0)
        return failed(f"the latest load test reached concurrency {reached}, short of the target {target}", **evidence)
    ok, verdicts = _judge(ctx, report, steps)
    evidence["slo_results"] = verdicts
    if not ok:
        evidence["where_time_went"] = breakdown = await where_time_went(ctx, report)
        return failed(f"at concurrency {target} and above the SLOs did not hold{_explained(breakdown)}", **evidence)
    return passed(f"the SLOs held at concurrency {max(step_concurrency(s) for s in steps)} (target {target})", **evidence)


def judge_concurrency_limits(config: HeadwayConfig) -> Finding:
    limits = config.admission.deployments
    seen: dict[str, Any] = {}
    unlimited: list[str] = []
    for name, model in config.models.items():
        for deployment in model.deployments:
            key = f"{deployment.provider}/{deployment.model}"
            limit = limits.get(key)
            seen[f"{name}: {key}"] = (
                {"max_in_flight": limit.max_in_flight, "queue_timeout_ms": limit.queue_timeout_ms or config.admission.queue_timeout_ms}
                if limit
                else None
            )
            if limit is None:
                unlimited.append(f"{name}: {key}")
    if not seen:
        return failed("no models are configured")
    if unlimited:
        return failed(f"no concurrency limit (admission.deployments) for: {', '.join(unlimited)}", unlimited=unlimited, limits=seen)
    return passed("every deployment has a concurrency limit and a bounded queue", limits=seen)


def judge_rate_limits(config: HeadwayConfig) -> Finding:
    limits = config.admission.limits
    written = {
        scope: {name: rule.model_dump(exclude_none=True) for name, rule in getattr(limits, scope).items()}
        for scope in ("keys", "teams", "models")
    }

    def limited(rule: Any) -> bool:
        return rule.requests_per_minute is not None or rule.tokens_per_minute is not None

    defaults = [scope for scope in ("keys", "teams") if (rule := getattr(limits, scope).get("*")) is not None and limited(rule)]
    if defaults:
        return passed(f"every {' and every '.join(s[:-1] for s in defaults)} has a default rate limit ('*')", limits=written)
    if any(written.values()):
        return partial(
            "rate limits exist, but callers not listed by name are unlimited",
            fix='Add a default: `admission: {limits: {keys: {"*": {requests_per_minute: …}}}}`.',
            limits=written,
        )
    return failed("no rate limits: one caller can take all the capacity", limits=written)


CHECKS = (
    Check(
        "load.slo", "load", "A recent load test met the SLOs",
        "The newest run saved by `headway load` (or the drill), re-judged against the profile's `load.slos`, "
        "no older than `load.max_age_days`.",
        _NO_RUN_FIX,
        slos_met,
    ),
    Check(
        "load.concurrency", "load", "The SLOs hold at the target concurrency",
        "The same run: the steps at `load.target_concurrency` or above, judged against the profile's SLOs.",
        "Run the load test at (at least) the target concurrency: `headway load --concurrency N --slo ...`.",
        at_target,
    ),
    Check(
        "load.concurrency_limits", "load", "Every deployment has a concurrency limit",
        "The config: `admission.deployments.<provider>/<model>.max_in_flight` for every deployment.",
        "Add `admission: {deployments: {provider/model: {max_in_flight: N, queue_timeout_ms: T}}}` per deployment.",
        live(judge_concurrency_limits),
    ),
    Check(
        "load.rate_limits", "load", "Callers are rate limited",
        "The config: a default (`\"*\"`) requests- or tokens-per-minute limit for keys or teams.",
        'Add `admission: {limits: {keys: {"*": {requests_per_minute: N}}}}`.',
        live(judge_rate_limits),
    ),
)
