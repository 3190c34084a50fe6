"""Every check flips from pass to fail when the one thing it measures is broken.

The test is parametrised over the check registry: a new check without an entry in
``FLIPS`` fails the suite. Each flip first shows the check passing on the production
example (after its drill), then breaks exactly what the check measures — a config key,
a live setting of a staging gateway, or the stored evidence itself — and runs the check
again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shutil
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from headway.gate.binding import Binding
from headway.gate.context import GateContext
from headway.gate.drill import DrillRecord, run_fault_drill
from headway.gate.profile import parse_profile
from headway.gate.registry import check_ids
from headway.gate.results import CheckResult
from headway.gate.route_drill import run_route_drill
from headway.loadtest import latest_run, save_run
from headway.types import RequestRecord
from tests.gate.conftest import (
    ADMIN_KEY,
    TEST_PROFILE,
    Edit,
    Production,
    Site,
    admin,
    context,
    run_check,
    run_evals,
    staging,
)
from tests.http import post_json

Flip = Callable[[Site, Production], Awaitable[CheckResult]]


async def passes_on_production(site: Site, production: Production, check_id: str) -> None:
    async with context(site, production.gateway, production.config_path, loadtest_dir=production.loadtest_dir) as ctx:
        result = await run_check(check_id, ctx)
    assert result.status == "pass", (check_id, result.summary)


def config_flip(check_id: str, edit: Edit) -> Flip:
    """Break the config file only; the live evidence is the passing production deployment's."""

    async def flip(site: Site, production: Production) -> CheckResult:
        await passes_on_production(site, production, check_id)
        broken = site.write_config(edit)
        async with context(site, production.gateway, broken, loadtest_dir=production.loadtest_dir) as ctx:
            return await run_check(check_id, ctx)

    return flip


def staging_flip(check_id: str, edit: Edit, *, ready: bool = False) -> Flip:
    """A staging gateway running the production config with one setting changed."""

    async def flip(site: Site, production: Production) -> CheckResult:
        await passes_on_production(site, production, check_id)
        with staging(site, edit, ready=ready) as (gateway, path):
            async with context(site, gateway, path) as ctx:
                return await run_check(check_id, ctx)

    return flip


def mutation_flip(check_id: str, setup: Callable[[Any], None], damage: Callable[[Any], None]) -> Flip:
    """One staging gateway: the check passes, then its evidence is damaged in place."""

    async def flip(site: Site, production: Production) -> CheckResult:
        with staging(site) as (gateway, path):
            setup(gateway)
            async with context(site, gateway, path) as ctx:
                before = await run_check(check_id, ctx)
                assert before.status == "pass", (check_id, before.summary)
                damage(gateway)
                return await run_check(check_id, ctx)

    return flip


def nothing(gateway: Any) -> None:
    pass


def sql(gateway: Any, statement: str, **params: Any) -> None:
    with gateway.runtime.store._engine.begin() as connection:
        connection.execute(text(statement), params)


# -- breaks that need more than one line ---------------------------------------------------------------
def drop_deployment_limit(raw: dict[str, Any]) -> None:
    del raw["admission"]["deployments"]["primary/gpt-4o-mini"]


def drop_rate_limits(raw: dict[str, Any]) -> None:
    del raw["admission"]["limits"]


def hold_another_model(raw: dict[str, Any]) -> None:
    raw["review"]["policies"]["credit-decisions"]["match"]["models"] = ["chat-backup"]


def dead_on_call(raw: dict[str, Any]) -> None:
    raw["readiness"]["routes"]["chat"]["on_call"] = f"http://127.0.0.1:{closed_port()}/page"


def missing_runbook(raw: dict[str, Any]) -> None:
    raw["readiness"]["routes"]["decisions"]["runbook"] = "/nonexistent/runbooks/decisions.md"


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def literal_secret(raw: dict[str, Any]) -> None:
    raw["providers"]["primary"]["api_key"] = "sk-live-0123456789abcdef"


def no_alert_rules(raw: dict[str, Any]) -> None:
    raw["observe"]["alerts"]["rules"] = []


async def drill_without_fallback(site: Site, production: Production) -> CheckResult:
    await passes_on_production(site, production, "reliability.drill")
    profile = parse_profile({**TEST_PROFILE, "drill": {"model": "chat"}}, source="drill-chat.yaml")
    with staging(site, {"models": {"chat": {"fallbacks": []}}}) as (gateway, path):
        async with context(site, gateway, path, profile=profile) as ctx:
            assert ctx.config is not None and ctx.deployment is not None
            record = await run_fault_drill(ctx.deployment, ctx.config, profile.drill)
            assert [s.name for s in record.steps if s.passed is False] == ["fallback"]
            store_drill(ctx, gateway, record)
            return await run_check("reliability.drill", ctx)


def store_drill(ctx: GateContext, gateway: Any, record: DrillRecord) -> None:
    """Bind a drill to the context's config and gateway, as `headway gate --drill` does, and store it."""
    assert ctx.fingerprint is not None
    routes = [record.model] + [s.name.split(":", 1)[1] for s in record.steps if ":" in s.name]
    record.binding = Binding(ctx.fingerprint, gateway.url, list(dict.fromkeys(routes)), record.created_at).to_dict()
    stored = post_json(gateway.url + "/admin/gate/drills", record.to_dict(), {"authorization": f"Bearer {ADMIN_KEY}"})
    assert stored.status == 201, stored.body


def replace_with_folder(database: Path) -> None:
    shutil.move(database, database.with_suffix(".moved"))
    database.mkdir()  # SQLite cannot open a folder: the store is gone


async def store_turned_into_a_folder(site: Site, production: Production) -> CheckResult:
    with staging(site) as (gateway, path):
        async with context(site, gateway, path) as ctx:
            assert (await run_check("observability.readiness", ctx)).status == "pass"
            replace_with_folder(Path(gateway.runtime.config.store.removeprefix("sqlite:///")))
            await asyncio.sleep(1.1)  # the gateway probes its store at most once a second
            return await run_check("observability.readiness", ctx)


def chat_traffic(gateway: Any) -> None:
    for index in range(25):
        reply = post_json(
            gateway.url + "/v1/chat/completions",
            {"model": "chat", "messages": [{"role": "user", "content": f"cost {index}"}]},
            {"authorization": f"Bearer {ADMIN_KEY}"},
        )
        assert reply.status == 200
    gateway.flush()


def unpriced_records(gateway: Any) -> None:
    now = time.time()
    gateway.runtime.store.write_requests(
        [RequestRecord(f"req_unpriced_{i}", "/v1/chat/completions", "chat", created_at=now, status_code=200) for i in range(30)]
    )


def revoke_keys_of(principal: str) -> Callable[[Any], None]:
    def damage(gateway: Any) -> None:
        for key in admin("GET", gateway.url + "/admin/keys?limit=1000")["data"]:
            if key["principal"] == principal:
                admin("DELETE", f"{gateway.url}/admin/keys/{key['id']}")

    return damage


def broad_key(gateway: Any) -> None:
    admin("POST", gateway.url + "/admin/keys", {"principal": "ops-bot", "roles": ["operator"]})


def tamper_audit(gateway: Any) -> None:
    admin("GET", gateway.url + "/admin/audit/verify")  # flushes the buffered trail first
    sql(gateway, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 1")


def age_pipeline_runs(gateway: Any) -> None:
    sql(gateway, "UPDATE pipeline_runs SET started_at = started_at - 10800, finished_at = finished_at - 10800")


def held_request(gateway: Any) -> None:
    reply = post_json(
        gateway.url + "/v1/chat/completions",
        {"model": "decisions", "messages": [{"role": "user", "content": "approve a loan of 500?"}]},
        {"authorization": f"Bearer {ADMIN_KEY}", "prefer": "review=ticket"},
    )
    assert reply.status == 202, reply.body


def miss_the_deadline(gateway: Any) -> None:
    sql(gateway, "UPDATE review_items SET deadline_at = :at", at=time.time() - 7200)


async def empty_document(site: Site, production: Production) -> CheckResult:
    await passes_on_production(site, production, "pipelines.checks")
    folder = site.root / "knowledge-with-an-empty-page"
    shutil.copytree(site.env["HEADWAY_KNOWLEDGE_DIR"], folder, dirs_exist_ok=True)
    (folder / "blank.md").write_text("")

    def edit(raw: dict[str, Any]) -> None:
        raw["pipelines"]["definitions"]["knowledge"]["source"]["path"] = str(folder)

    with staging(site, edit) as (gateway, path):
        async with context(site, gateway, path) as ctx:
            return await run_check("pipelines.checks", ctx)


async def region_nobody_serves(site: Site, production: Production) -> CheckResult:
    """Every chat deployment moved to eu-west: a request pinned to au (the declared residency) cannot be served in au."""
    await passes_on_production(site, production, "operations.residency")

    def edit(raw: dict[str, Any]) -> None:
        for name in ("chat", "chat-backup"):
            raw["models"][name]["deployments"][0]["region"] = "eu-west"

    with staging(site, edit) as (gateway, path):
        async with context(site, gateway, path) as ctx:
            assert ctx.config is not None and ctx.deployment is not None
            record = DrillRecord("drill_residency_flip", time.time(), time.time(), gateway.url, "chat", [], "", [])
            record.steps = await run_route_drill(ctx.deployment, ctx.config)
            store_drill(ctx, gateway, record)
            return await run_check("operations.residency", ctx)


async def eval_regressed(site: Site, production: Production) -> CheckResult:
    """The chat set run again with one case that passed now failing: a regression, whatever the pass rate."""
    await passes_on_production(site, production, "quality.evals")
    folder = site.root / "evals-regressed"
    shutil.copytree(production.evals_dir, folder)
    sets = site.root / "sets-regressed"
    sets.mkdir()
    lines = (Path(site.env["HEADWAY_EVAL_DIR"]) / "chat.jsonl").read_text().splitlines()
    case = json.loads(lines[0])
    case["expect"] = {"contains": ["a phrase the simulator never says"]}
    (sets / "chat.jsonl").write_text("\n".join([json.dumps(case), *lines[1:]]) + "\n")
    shutil.copy(Path(site.env["HEADWAY_EVAL_DIR"]) / "decisions.jsonl", sets / "decisions.jsonl")
    config = site.write_config(lambda raw: raw["readiness"]["routes"]["chat"].update(eval_set=str(sets / "chat.jsonl")))
    # The edited set is part of the config, so the run is bound to the edited config: only the regression fails it.
    run_evals(site, production.gateway, config, folder)
    async with context(site, production.gateway, config, loadtest_dir=production.loadtest_dir, evals_dir=folder) as ctx:
        return await run_check("quality.evals", ctx)


def load_flip(change: Callable[[Any], Any]) -> Flip:
    """Re-save the production deployment's load test with one measurement changed."""

    async def flip(site: Site, production: Production) -> CheckResult:
        check_id = "load.slo" if change is worse_errors else "load.concurrency"
        await passes_on_production(site, production, check_id)
        report = latest_run(production.loadtest_dir)
        assert report is not None
        report.steps = [change(step) for step in report.steps]
        folder = site.root / f"runs-{check_id}"
        save_run(report, folder)
        async with context(site, production.gateway, production.config_path, loadtest_dir=folder) as ctx:
            return await run_check(check_id, ctx)

    return flip


def worse_errors(step: Any) -> Any:
    return dataclasses.replace(step, error_rate=0.2, errors={"http_500": step.sent // 5})


def lower_concurrency(step: Any) -> Any:
    return dataclasses.replace(step, concurrency=1, max_in_flight=1)


FLIPS: dict[str, Flip] = {
    "reliability.timeouts": config_flip("reliability.timeouts", {"models": {"chat": {"timeouts": {"first_token": None, "total": None}}}}),
    "reliability.retries": config_flip("reliability.retries", {"models": {"chat": {"retries": {"max_retries": 0}}}}),
    "reliability.fallbacks": config_flip("reliability.fallbacks", {"models": {"chat": {"fallbacks": []}}}),
    "reliability.degraded": config_flip("reliability.degraded", {"models": {"chat": {"degraded": None}}}),
    "reliability.breakers": staging_flip("reliability.breakers", {"models": {"chat": {"breaker": {"enabled": False}}}}),
    "reliability.drill": drill_without_fallback,
    "load.slo": load_flip(worse_errors),
    "load.concurrency": load_flip(lower_concurrency),
    "load.concurrency_limits": config_flip("load.concurrency_limits", drop_deployment_limit),
    "load.rate_limits": config_flip("load.rate_limits", drop_rate_limits),
    "observability.metrics": staging_flip("observability.metrics", {"observe": {"metrics": {"enabled": False}}}),
    "observability.tracing": staging_flip("observability.tracing", {"observe": {"tracing": {"enabled": "off"}}}),
    "observability.cost": mutation_flip("observability.cost", chat_traffic, unpriced_records),
    "observability.alerts": staging_flip("observability.alerts", no_alert_rules),
    "observability.request_lines": staging_flip("observability.request_lines", {"observe": {"logs": {"request_lines": False}}}),
    "observability.readiness": store_turned_into_a_folder,
    "security.auth": config_flip("security.auth", {"auth": {"mode": "none"}}),
    "security.secrets": config_flip("security.secrets", literal_secret),
    "security.keys": mutation_flip("security.keys", nothing, broad_key),
    "security.audit": mutation_flip("security.audit", nothing, tamper_audit),
    "security.identity": config_flip("security.identity", lambda raw: raw["auth"]["oidc"][0].update(jwks_url=f"http://127.0.0.1:{closed_port()}/jwks")),
    "pipelines.cadence": mutation_flip("pipelines.cadence", nothing, age_pipeline_runs),
    "pipelines.checks": empty_document,
    "review.hold_policies": config_flip("review.hold_policies", hold_another_model),
    "review.reviewers": mutation_flip("review.reviewers", nothing, revoke_keys_of("risk-reviewer")),
    "review.sla": mutation_flip("review.sla", held_request, miss_the_deadline),
    "quality.evals": eval_regressed,
    "operations.owners": mutation_flip("operations.owners", nothing, revoke_keys_of("support-app")),
    "operations.on_call": config_flip("operations.on_call", dead_on_call),
    "operations.runbooks": config_flip("operations.runbooks", missing_runbook),
    "operations.residency": region_nobody_serves,
}


# Why each flip fails: the summary must name what was broken (any of these), not some other problem.
REASONS: dict[str, tuple[str, ...]] = {
    "reliability.timeouts": ("can wait forever",),
    "reliability.retries": ("no retries for: chat",),
    "reliability.fallbacks": ("no fallback path for: chat",),
    "reliability.degraded": ("no degraded mode for: chat",),
    "reliability.breakers": ("circuit breakers are off for: chat/",),
    "reliability.drill": ("the latest fault drill failed: fallback",),
    "load.slo": ("missed the profile's SLOs: error_rate",),
    "load.concurrency": ("reached concurrency 1, short of the target 8",),
    "load.concurrency_limits": ("no concurrency limit (admission.deployments) for: chat: primary/gpt-4o-mini",),
    "load.rate_limits": ("no rate limits",),
    "observability.metrics": ("metrics are off",),
    "observability.tracing": ("does not trace",),
    "observability.cost": ("of answered requests have a cost (needs 99%)",),
    "observability.alerts": ("no alert rules",),
    "observability.request_lines": ("request-line logging is off",),
    "observability.readiness": ("/readyz says not ready: store",),
    "security.auth": ("auth.mode is none",),
    "security.secrets": ("written literally at providers.primary.api_key",),
    "security.keys": ("1 of 3 active keys are too broad",),
    "security.audit": ("the audit chain is broken",),
    "security.identity": ("the identity provider's signing keys cannot be fetched",),
    "pipelines.cadence": ("not run within their cadence: knowledge",),
    "pipelines.checks": ("latest run did not pass: knowledge (degraded)",),
    "review.hold_policies": ("no hold policy for consequential route(s): decisions",),
    "review.reviewers": (
        "nobody but an admin can decide the items of: credit-decisions",
        "only OIDC role mappings could supply reviewers for: credit-decisions",  # the IdP may have them: unverifiable, half
    ),
    "review.sla": ("past their deadline", "expired without a decision"),
    "quality.evals": ("chat: regressed since", "answers-the-user passed then, fail now"),
    "operations.owners": ("nobody in team 'apps' holds an active key",),
    "operations.on_call": ("the on-call receiver did not acknowledge a test page",),
    "operations.runbooks": ("runbook not readable",),
    "operations.residency": ("a request pinned to au as internal was not served",),
}


def test_every_check_in_the_registry_has_a_flip() -> None:
    assert sorted(FLIPS) == sorted(check_ids()) == sorted(REASONS)


@pytest.mark.parametrize("check_id", check_ids())
async def test_breaking_what_a_check_measures_flips_it(check_id: str, site: Site, production: Production) -> None:
    flip = FLIPS.get(check_id)
    assert flip is not None, f"{check_id} has no flip test: add one to FLIPS"
    result = await flip(site, production)
    assert result.id == check_id
    assert result.status in ("fail", "warn") and result.score is not None and result.score < 1, (result.status, result.summary)
    assert any(reason in result.summary for reason in REASONS[check_id]), result.summary
    # A failing check says why, shows the evidence, and says how to fix it.
    assert result.summary and result.evidence and result.fix
    json.dumps(result.to_dict())  # and the whole result is JSON for CI
