"""Load and concurrency: a recent load test met the profile's SLOs at the target concurrency; limits exist.

The load checks re-judge the stored measurements against the *profile's* SLOs
(``load.slos``) rather than trusting the verdict the run recorded for its own SLOs: a
run with lax objectives cannot pass a strict gate.
"""

from __future__ import annotations

from typing import Any

from headway.gate.check import Check
from headway.gate.context import GateContext
from headway.gate.results import Finding, failed, partial, passed
from headway.loadtest import LoadReport, StepReport, evaluate_slos, parse_slo

_NO_RUN_FIX = (
    "Run `headway load --concurrency N --slo ...` at the target concurrency (it saves the run the gate reads), "
    "or `headway gate --drill` on staging."
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


def _summary(ctx: GateContext, report: LoadReport) -> dict[str, Any]:
    return {
        "runs_dir": str(ctx.runs_dir),
        "finished_at": report.finished_at,
        "age_days": round(ctx.age_days(report.finished_at), 2),
        "target": report.config.get("base_url"),
        "model": report.config.get("model"),
        "steps": [
            {"step": s.label, "concurrency": step_concurrency(s), "requests": s.sent, "error_rate": round(s.error_rate, 4),
             "p95_ms": s.latency_ms.p95 if s.latency_ms else None}
            for s in report.steps
        ],
        "profile_slos": ctx.profile.load.slos,
    }


async def slos_met(ctx: GateContext) -> Finding:
    report = ctx.latest_load_run()
    if report is None:
        return failed(f"no load test is saved in {ctx.runs_dir}", fix=_NO_RUN_FIX, runs_dir=str(ctx.runs_dir))
    evidence = _summary(ctx, report)
    ok, verdicts = _judge(ctx, report, report.steps)
    evidence["slo_results"] = verdicts
    if not ok:
        broken = ", ".join(f"{v['slo']} (worst {v['worst']}, limit {v['threshold']:g})" for v in verdicts if not v["passed"])
        return failed(f"the latest load test missed the profile's SLOs: {broken}", **evidence)
    age, limit = ctx.age_days(report.finished_at), ctx.profile.load.max_age_days
    if age > limit:
        return partial(f"the latest load test met its SLOs, but {age:.1f} days ago (limit {limit:g})", fix=_NO_RUN_FIX, **evidence)
    return passed(f"a load test {age:.1f} days ago met {ctx.profile.load.slos}", **evidence)


async def at_target(ctx: GateContext) -> Finding:
    target = ctx.profile.load.target_concurrency
    report = ctx.latest_load_run()
    if report is None:
        return failed(f"no load test is saved in {ctx.runs_dir}", fix=_NO_RUN_FIX, target_concurrency=target)
    evidence: dict[str, Any] = {**_summary(ctx, report), "target_concurrency": target}
    steps = [s for s in report.steps if step_concurrency(s) >= target]
    if not steps:
        reached = max((step_concurrency(s) for s in report.steps), default=0)
        return failed(f"the latest load test reached concurrency {reached}, short of the target {target}", **evidence)
    ok, verdicts = _judge(ctx, report, steps)
    evidence["slo_results"] = verdicts
    if not ok:
        return failed(f"at concurrency {target} and above the SLOs did not hold", **evidence)
    age, limit = ctx.age_days(report.finished_at), ctx.profile.load.max_age_days
    if age > limit:
        return partial(f"the SLOs held at concurrency {target}, but {age:.1f} days ago", fix=_NO_RUN_FIX, **evidence)
    return passed(f"the SLOs held at concurrency {max(step_concurrency(s) for s in steps)} (target {target})", **evidence)


async def concurrency_limits(ctx: GateContext) -> Finding:
    config = ctx.need_config()
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


async def rate_limits(ctx: GateContext) -> Finding:
    config = ctx.need_config()
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
        concurrency_limits,
    ),
    Check(
        "load.rate_limits", "load", "Callers are rate limited",
        "The config: a default (`\"*\"`) requests- or tokens-per-minute limit for keys or teams.",
        'Add `admission: {limits: {keys: {"*": {requests_per_minute: N}}}}`.',
        rate_limits,
    ),
)
