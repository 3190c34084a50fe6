"""Data: every source feeding a declared route has a contract and a current passing run; every pipeline keeps its cadence.

Sources are declared per route (``readiness.routes.<route>.sources``, pipeline names).
A declared source with no pipeline fails: "no pipelines" is never full marks. A
deployment with no declared source and no pipeline fails too, unless the ``pipelines``
section is waived with a reason and an owner.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
from croniter import croniter

from headway.config import ScheduleConfig
from headway.gate.check import Check
from headway.gate.context import GateContext
from headway.gate.results import Finding, failed, partial, passed

_FINISHED = frozenset({"ok", "warn", "degraded", "failed"})


def cadence_s(schedule: ScheduleConfig, now: float) -> float:
    if schedule.every_s is not None:
        return schedule.every_s
    assert schedule.cron is not None
    fires = croniter(schedule.cron, dt.datetime.fromtimestamp(now, dt.UTC))
    first = fires.get_next(float)
    return float(fires.get_next(float) - first)


async def _latest_finished(ctx: GateContext, name: str) -> dict[str, Any] | None:
    data = await ctx.api(f"/admin/pipelines/{quote(name, safe='')}/runs?limit=10")
    for run in data.get("data") or []:
        if isinstance(run, dict) and run.get("status") in _FINISHED:
            return run
    return None


_UNDECLARED_FIX = (
    "Declare the data behind each route (`readiness.routes.<route>.sources: [pipeline]`) and define those pipelines, "
    "or waive the section: `readiness.waivers: [{check: pipelines, reason: ..., owner: ...}]`."
)


def _absent(ctx: GateContext) -> Finding | None:
    """A failure when sources are declared but missing, or nothing is declared at all."""
    config = ctx.need_config()
    declared = {s: r for r, route in config.readiness.routes.items() for s in route.sources}
    missing = sorted(s for s in declared if s not in config.pipelines.definitions and s not in config.readiness.sources)
    if missing:
        return failed(
            f"declared sources with no pipeline (no contract, no runs): {', '.join(f'{s} (feeds {declared[s]})' for s in missing)}",
            fix=_UNDECLARED_FIX,
            declared=declared,
            defined=sorted(config.pipelines.definitions),
        )
    if not config.pipelines.definitions and not config.readiness.sources:
        return failed("no data source is declared for any route and no pipeline is defined", fix=_UNDECLARED_FIX, declared=declared)
    return None


def _beside(ctx: GateContext, path: str) -> Path:
    base = Path(ctx.config_file).parent if ctx.config_file else Path.cwd()
    return Path(path) if Path(path).is_absolute() else base / path


def external_sources(ctx: GateContext) -> tuple[dict[str, Any], list[str], list[str]]:
    """Sources Headway does not run: (evidence, failures, stale) from each one's contract and latest profile."""
    seen: dict[str, Any] = {}
    broken: list[str] = []
    stale: list[str] = []
    limit = ctx.profile.evidence.source_profile_max_days
    for name, source in ctx.need_config().readiness.sources.items():
        contract, profile_path = _beside(ctx, source.contract), _beside(ctx, source.profile)
        try:
            has_contract = contract.stat().st_size > 0
            profile = orjson.loads(profile_path.read_bytes())
        except (OSError, orjson.JSONDecodeError) as exc:
            broken.append(f"{name} (contract or profile unreadable: {exc.__class__.__name__})")
            seen[name] = {"contract": str(contract), "profile": str(profile_path)}
            continue
        critical = {
            k: profile.get(k) for k in ("unparseable_rows", "duplicate_keys") if isinstance(profile.get(k), int) and profile[k] > 0
        }
        if not profile.get("rows"):
            critical["rows"] = 0
        age_days = ctx.age_days(float(profile.get("profiled_at") or 0))
        seen[name] = {
            "contract": str(contract), "profile": str(profile_path), "rows": profile.get("rows"), "profiled_at": profile.get("profiled_at"),
            "age_days": round(age_days, 2), "critical": critical, "anomalous_rows": profile.get("anomalous_rows"),
        }
        if not has_contract:
            broken.append(f"{name} (empty contract)")
        elif critical:
            broken.append(f"{name} (critical findings: {', '.join(f'{k} {v}' for k, v in critical.items())})")
        elif age_days > limit:
            stale.append(f"{name} (profiled {age_days:.1f} days ago; limit {limit:g})")
    return seen, broken, stale


async def cadence(ctx: GateContext) -> Finding:
    config = ctx.need_config()
    definitions = config.pipelines.definitions
    if (absent := _absent(ctx)) is not None:
        return absent
    grace = ctx.profile.evidence.pipeline_grace
    late: list[str] = []
    manual: list[str] = []
    seen: dict[str, Any] = {}
    for name, pipeline in definitions.items():
        run = await _latest_finished(ctx, name)
        last = float(run.get("finished_at") or run.get("started_at") or 0) if run else None
        if pipeline.schedule is None:
            seen[name] = {"schedule": None, "last_run_age_s": None if last is None else round(ctx.now - last, 1)}
            manual.append(name)
            continue
        every = cadence_s(pipeline.schedule, ctx.now)
        age = None if last is None else ctx.now - last
        seen[name] = {
            "schedule": pipeline.schedule.model_dump(exclude_none=True),
            "cadence_s": every,
            "last_run_age_s": None if age is None else round(age, 1),
            "scheduler": config.pipelines.scheduler.enabled,
        }
        if age is None or age > every * grace:
            late.append(name)
    external, _, stale = external_sources(ctx)
    if external:
        seen["external"] = external
    late += stale
    if late:
        return failed(
            f"not run within their cadence: {', '.join(late)}",
            fix="Keep the scheduler on (`pipelines.scheduler.enabled: true`, workers >= 1) and fix the runs that fail to start.",
            late=late,
            pipelines=seen,
        )
    if manual:
        return partial(
            f"no schedule, so they run only by hand: {', '.join(manual)}",
            fix="Give every pipeline a `schedule: {every_s: N}` or `{cron: \"…\"}`.",
            pipelines=seen,
        )
    return passed(f"all {len(definitions)} pipelines ran within {grace:g}× their cadence", pipelines=seen)


async def checks(ctx: GateContext) -> Finding:
    config = ctx.need_config()
    definitions = config.pipelines.definitions
    if (absent := _absent(ctx)) is not None:
        return absent
    results: dict[str, Any] = {}
    broken: list[str] = []
    weak: list[str] = []
    for name, pipeline in definitions.items():
        run = await _latest_finished(ctx, name)
        if run is None:
            results[name] = {"latest": None}
            broken.append(f"{name} (never ran)")
            continue
        tripped = [c for c in run.get("checks") or [] if isinstance(c, dict) and c.get("level") in ("warn", "fail")]
        results[name] = {
            "run": run.get("run_id"),
            "status": run.get("status"),
            "error": run.get("error"),
            "checks": [f"{c.get('check')}{'(' + str(c.get('field')) + ')' if c.get('field') else ''}: {c.get('level')}" for c in run.get("checks") or []],
        }
        if run.get("status") in ("failed", "degraded"):
            broken.append(f"{name} ({run.get('status')}{': ' + str(run.get('error')) if run.get('error') else ''})")
        elif run.get("status") == "warn" or tripped:
            weak.append(f"{name} (warnings)")
        elif not pipeline.checks and not pipeline.contract.model_fields_set:
            weak.append(f"{name} (no contract and no quality checks configured)")
    external, external_broken, _ = external_sources(ctx)
    if external:
        results["external"] = external
    broken += external_broken
    if broken:
        return failed(f"latest run did not pass: {'; '.join(broken)}", pipelines=results)
    if weak:
        return partial(
            f"passed, with reservations: {'; '.join(weak)}",
            fix="Add quality checks (completeness, validity, freshness, volume) and resolve their warnings.",
            pipelines=results,
        )
    return passed(f"the latest run of all {len(definitions)} pipelines passed its quality checks", pipelines=results)


CHECKS = (
    Check(
        "pipelines.cadence", "pipelines", "Pipelines run on their cadence",
        "The config's schedules and GET /admin/pipelines/{name}/runs: the latest finished run is younger than "
        "`evidence.pipeline_grace` cadences.",
        "Schedule every pipeline and keep the scheduler running; re-run the late ones (`headway pipeline run NAME`).",
        cadence,
    ),
    Check(
        "pipelines.checks", "pipelines", "Pipelines pass their quality checks",
        "GET /admin/pipelines/{name}/runs: the latest finished run's status and its data-quality checks.",
        "Look at the run's failed checks and quarantine (`headway pipeline status NAME`), fix the source, re-run.",
        checks,
    ),
)
