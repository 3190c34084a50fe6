"""``run_gate``: gather the evidence, optionally drill first, score every check, store the report."""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from headway.config import HeadwayConfig, changed, config_fingerprint, leaves
from headway.errors import ConfigError, HeadwayError
from headway.gate.binding import Binding
from headway.gate.check import Check
from headway.gate.config_source import PLACEHOLDER, gateway_url, live_config, parse_for_gate, read_raw
from headway.gate.context import GateContext
from headway.gate.drill import DrillError, drill_model, run_fault_drill
from headway.gate.evidence import Deployment, EvidenceUnavailable
from headway.gate.profile import Profile
from headway.gate.registry import checks_for
from headway.gate.rehearsal import run_rehearsal
from headway.gate.results import CheckResult, Finding, GateReport, Status, unknown
from headway.gate.route_drill import run_route_drill
from headway.gate.scoring import gate_score, sections, verdict

ADMIN_KEY_ENV = "HEADWAY_ADMIN_KEY"


@dataclass(frozen=True)
class GateOptions:
    profile: Profile
    url: str | None = None
    config_file: str | None = None
    api_key: str | None = None  # default: $HEADWAY_ADMIN_KEY
    drill: bool = False
    loadtest_dir: str | None = None
    evals_dir: str | None = None
    save: bool = True  # store the report in the deployment (POST /admin/gate/reports)
    env: Mapping[str, str] | None = None
    say: Callable[[str], None] = field(default=lambda message: None)


async def evaluate(check: Check, ctx: GateContext) -> CheckResult:
    """Run one check; missing evidence or a crash becomes "could not evaluate", never a guess."""
    try:
        finding = await check.run(ctx)
    except EvidenceUnavailable as exc:
        finding = unknown(str(exc))
    except Exception as exc:  # a broken check must not take the whole gate down
        finding = unknown(f"the check failed to run: {exc.__class__.__name__}: {exc}")
    return _result(check, ctx.profile, finding.capped(), ctx.waiver(check.id))


def _result(check: Check, profile: Profile, finding: Finding, waiver: dict[str, str] | None = None) -> CheckResult:
    status: Status = finding.status
    summary = finding.summary
    if waiver is not None and status != "pass":
        status = "waived"
        summary = f"WAIVED by {waiver['owner']}: {waiver['reason']} (measured: {summary})"
    return CheckResult(
        id=check.id,
        section=check.section,
        title=check.title,
        required=profile.required(check.id, check.required),
        measures=check.measures,
        score=finding.score,
        status=status,
        summary=summary,
        evidence=finding.evidence,
        fix=(finding.fix or check.fix) if status in ("fail", "warn", "unknown", "waived") else None,
        basis=finding.basis,
        waiver=waiver if status == "waived" else None,
    )


async def score(ctx: GateContext) -> list[CheckResult]:
    return [await evaluate(check, ctx) for check in checks_for(ctx.profile)]


def _load_config(options: GateOptions, notes: list[str]) -> tuple[Any, HeadwayConfig | None]:
    if options.config_file is None:
        return None, None
    raw = read_raw(options.config_file)
    try:
        return raw, parse_for_gate(raw, file=options.config_file, env=options.env)
    except ConfigError as exc:
        notes.append(f"the config file does not validate, so config checks use the deployment's own: {exc}")
        return raw, None


def _webhook_secret(config: HeadwayConfig) -> str | None:
    """The review webhook secret, when the gate knows it (a placeholder means the gate's machine lacks it)."""
    secret = config.review.webhook_secret
    value = secret.get_secret_value() if secret is not None else None
    return None if value in (None, PLACEHOLDER) else value


async def _drill(ctx: GateContext, deployment: Deployment, config: HeadwayConfig, options: GateOptions, notes: list[str]) -> None:
    profile = options.profile
    fingerprint = config_fingerprint(config)
    model = drill_model(config, profile.drill)
    options.say(f"load test: {model} at concurrency {profile.load.target_concurrency} for up to {profile.drill.load_duration_s:g}s")
    binding = Binding(fingerprint, deployment.url, [model])
    report, path = await run_rehearsal(deployment.url, deployment.api_key, config, model, profile, ctx.runs_dir, binding=binding)
    notes.append(f"drill load test: {sum(s.sent for s in report.steps)} requests to {model}, saved as {path}")
    options.say("fault drill: retry, fallback, degraded mode, breaker")
    record = await run_fault_drill(deployment, config, profile.drill)
    options.say(f"route drill: {', '.join(config.readiness.routes) or 'no declared routes'}")
    record.steps += await run_route_drill(deployment, config, webhook_secret=_webhook_secret(config))
    exercised = [model] + [s.name.split(":", 1)[1] for s in record.steps if ":" in s.name and s.passed is not None]
    record.binding = Binding(fingerprint, deployment.url, list(dict.fromkeys(exercised)), record.created_at).to_dict()
    stored = await deployment.request("POST", "/admin/gate/drills", payload=record.to_dict())
    outcome = "passed" if record.passed else "FAILED: " + ", ".join(s.name for s in record.steps if s.passed is False)
    notes.append(f"drill {record.id} ({fingerprint}) on {', '.join(record.binding['routes'])}: {outcome}")
    if not stored.ok:
        notes.append(f"the drill could not be stored ({stored.describe()}), so no check can count it")
    deployment.forget()


async def _previous(deployment: Deployment | None) -> dict[str, Any] | None:
    """The last stored report of this deployment (for "what changed"), or None."""
    if deployment is None:
        return None
    listed = await deployment.request("GET", "/admin/gate/reports?limit=1")
    rows = listed.json().get("data") if listed.ok else None
    if not rows:
        return None
    fetched = await deployment.request("GET", f"/admin/gate/reports/{rows[0]['id']}")
    data = fetched.json() if fetched.ok else None
    return data if isinstance(data, dict) else None


def _changes(previous: dict[str, Any] | None, fingerprint: str | None, leaves_now: dict[str, str]) -> dict[str, Any] | None:
    if previous is None:
        return None
    before = previous.get("config_leaves") or {}
    return {
        "report": previous.get("id"),
        "created_at": previous.get("created_at"),
        "verdict": previous.get("verdict"),
        "fingerprint": previous.get("fingerprint"),
        "config_changed": previous.get("fingerprint") != fingerprint,
        "changed": changed(before, leaves_now) if before else ["(the previous report kept no config view)"],
    }


async def run_gate(options: GateOptions) -> GateReport:
    created = time.time()
    notes: list[str] = []
    env = os.environ if options.env is None else options.env
    api_key = options.api_key or env.get(ADMIN_KEY_ENV)
    raw, config = _load_config(options, notes)
    url = options.url or (gateway_url(config) if config is not None else None)
    deployment = Deployment(url, api_key) if url else None
    reason: str | None = None
    try:
        if deployment is not None:
            health = await deployment.reachable()
            if health.status is None:
                reason = f"cannot reach the deployment at {deployment.url}: {health.error}"
                await deployment.close()
                deployment = None
        if config is None and deployment is not None:
            facts = await deployment.get("/admin/gate/facts")
            if facts.ok:
                config = live_config(facts.json().get("config"))
                notes.append("config checks judge the running deployment's config (no --config given)")
            else:
                notes.append(f"the deployment's config cannot be read: {facts.describe()}")
        if url is None and config is None:
            reason = "nothing to evaluate: give --url, --config, or both"
        ctx = GateContext(
            profile=options.profile,
            config=config,
            raw_config=raw,
            config_file=options.config_file,
            deployment=deployment,
            loadtest_dir=options.loadtest_dir,
            evals_dir=options.evals_dir,
        )
        if options.drill and reason is None:
            if deployment is None or config is None:
                notes.append("--drill needs both a reachable deployment and its config; no drill ran")
            else:
                try:
                    await _drill(ctx, deployment, config, options, notes)
                except (DrillError, HeadwayError) as exc:
                    notes.append(f"the drill could not run: {exc}")
        ctx.now = time.time()
        results = await score(ctx)
        section_results = sections(results, options.profile)
        fingerprint = config_fingerprint(config) if config is not None else None
        leaves_now = leaves(config) if config is not None else {}
        previous = await _previous(deployment) if options.save else None
        report = GateReport(
            id=f"gate_{secrets.token_hex(10)}",
            created_at=created,
            finished_at=time.time(),
            target=url,
            config_file=options.config_file,
            profile=options.profile.name,
            verdict="unknown" if reason else verdict(results, options.profile),
            score=gate_score(section_results),
            sections=section_results,
            checks=results,
            reason=reason,
            notes=notes,
            fingerprint=fingerprint,
            config_leaves=leaves_now,
            changed_since=_changes(previous, fingerprint, leaves_now),
        )
        if options.save and deployment is not None:
            stored = await deployment.request("POST", "/admin/gate/reports", payload=report.to_dict())
            if not stored.ok:
                report.notes.append(f"the report could not be stored in the deployment: {stored.describe()}")
        return report
    finally:
        if deployment is not None:
            await deployment.close()
