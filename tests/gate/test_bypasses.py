"""Every way the gate used to pass green while the thing it certifies was absent, or with evidence from elsewhere.

Each bypass reported against the gate is a test that now fails it: the review hold
removed together with the ``consequential`` tag; pipelines absent but declared; a load
test from another gateway, model or config, or a stale one; alerts to a receiver that is
not listening; a tracing exporter the collector refuses; reviewers without credentials;
a drill older than the config; request-line logging off. The last tests gate whole
broken deployments end to end (eval + ``--drill``, no other traffic): the broken thing
is the first failing check.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from headway.cli.main import app
from headway.config.fingerprint import redacted
from headway.gate.render import render_markdown
from headway.gate.runner import GateOptions, run_gate
from headway.loadtest import latest_run, save_run
from tests.gate.conftest import (
    ADMIN_KEY,
    Production,
    Site,
    admin,
    context,
    run_check,
    run_evals,
    run_sync,
    staging,
    strict_test_profile,
)
from tests.gate.test_flips import closed_port, revoke_keys_of
from tests.http import post_json


def drop_review(raw: dict[str, Any]) -> None:
    """What an adopting team did: the hold policy and the tag both removed (the declaration stays)."""
    raw["review"]["policies"] = {}
    raw["models"]["decisions"].pop("tags", None)


def drop_pipelines(raw: dict[str, Any]) -> None:
    raw["pipelines"]["definitions"] = {}


async def test_review_removed_with_its_tag_fails_the_gate(site: Site, production: Production) -> None:
    broken = site.write_config(drop_review)
    async with context(site, production.gateway, broken) as ctx:
        result = await run_check("review.hold_policies", ctx)
    assert result.status == "fail" and "no hold policy for consequential route(s): decisions" in result.summary


async def test_removing_the_declaration_too_still_fails_never_not_applicable(site: Site, production: Production) -> None:
    def drop_everything(raw: dict[str, Any]) -> None:
        drop_review(raw)
        raw["readiness"]["routes"]["decisions"]["consequential"] = False

    async with context(site, production.gateway, site.write_config(drop_everything)) as ctx:
        result = await run_check("review.hold_policies", ctx)
    assert result.status == "fail" and result.score == 0 and "no route is declared consequential" in result.summary
    assert "waive" in (result.fix or "")


async def test_a_waiver_is_shown_as_a_waiver_with_its_owner(site: Site, production: Production) -> None:
    def waive(raw: dict[str, Any]) -> None:
        drop_pipelines(raw)
        raw["readiness"]["routes"]["chat"]["sources"] = []
        raw["readiness"]["waivers"] = [{"check": "pipelines", "reason": "answers use no organisation data", "owner": "platform-team"}]

    async with context(site, production.gateway, site.write_config(waive)) as ctx:
        result = await run_check("pipelines.cadence", ctx)
    assert result.status == "waived" and result.waiver is not None and result.waiver["owner"] == "platform-team"
    assert "WAIVED by platform-team" in result.summary


async def test_pipelines_absent_but_declared_fail_the_gate(site: Site, production: Production) -> None:
    async with context(site, production.gateway, site.write_config(drop_pipelines)) as ctx:
        for check_id in ("pipelines.cadence", "pipelines.checks"):
            result = await run_check(check_id, ctx)
            assert result.status == "fail", check_id
            assert "declared sources with no pipeline" in result.summary and "knowledge (feeds chat)" in result.summary


def resave(production: Production, folder: Path, **changes: Any) -> None:
    report = latest_run(production.loadtest_dir)
    assert report is not None
    binding = dict(report.config["binding"])
    binding.update(changes.pop("binding", {}))
    report.config = {**report.config, **changes, "binding": binding}
    save_run(report, folder)


@pytest.mark.parametrize(
    ("name", "changes", "reason"),
    [
        (
            "foreign",
            {"base_url": "http://other-gateway:8000/v1", "model": "gpt-4o", "binding": {"target": "http://other-gateway:8000"}},
            "it ran against another gateway (http://other-gateway:8000",
        ),
        ("other-config", {"binding": {"fingerprint": "sha256:0123456789abcdef"}}, "it ran under another config (sha256:0123456789abcdef"),
        ("stale", {"binding": {"at": time.time() - 30 * 86400}}, "days old (the profile allows 7)"),
        ("unbound", {"binding": {"fingerprint": None}}, "it is not bound to a config and gateway"),
        ("undeclared-route", {"model": "embed", "binding": {"routes": ["embed"]}}, "which is not a declared route"),
    ],
)
async def test_foreign_or_stale_load_evidence_fails_the_gate(
    site: Site, production: Production, name: str, changes: dict[str, Any], reason: str
) -> None:
    folder = site.root / f"runs-{name}"
    resave(production, folder, **changes)
    async with context(site, production.gateway, production.config_path, loadtest_dir=folder) as ctx:
        for check_id in ("load.slo", "load.concurrency"):
            result = await run_check(check_id, ctx)
            assert result.status == "fail" and reason in result.summary, (check_id, result.summary)
            assert "headway gate --drill" in (result.fix or "")


async def test_a_newer_foreign_run_does_not_hide_this_deployments_own(site: Site, production: Production) -> None:
    folder = site.root / "runs-mixed"
    folder.mkdir()
    report = latest_run(production.loadtest_dir)
    assert report is not None
    save_run(report, folder)
    later = dataclasses.replace(report, finished_at=report.finished_at + 1, config={**report.config, "base_url": "http://x/v1", "binding": None})
    save_run(later, folder)
    async with context(site, production.gateway, production.config_path, loadtest_dir=folder) as ctx:
        result = await run_check("load.slo", ctx)
    assert result.status == "pass" and result.evidence["refused_newer"][0]["refused"]


async def test_alerts_to_a_dead_receiver_fail_the_gate(site: Site, production: Production) -> None:
    dead = f"http://127.0.0.1:{closed_port()}/alerts"
    broken = site.write_config(lambda raw: raw["observe"]["alerts"]["webhooks"][0].update(url=dead))
    async with context(site, production.gateway, broken) as ctx:
        result = await run_check("observability.alerts", ctx)
    assert result.status == "fail" and "did not acknowledge a test event" in result.summary
    assert "unreachable" in result.evidence["receivers"][dead]


async def test_alert_test_events_are_signed_with_the_receivers_secret(site: Site, production: Production) -> None:
    async with context(site, production.gateway, production.config_path) as ctx:
        result = await run_check("observability.alerts", ctx)
    assert result.status == "pass"
    assert all(v.startswith("acknowledged HTTP 200") and "unsigned" not in v for v in result.evidence["receivers"].values())


async def test_a_tracing_exporter_the_collector_refuses_fails_the_gate(site: Site, production: Production) -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{closed_port()}", "OTEL_EXPORTER_OTLP_TIMEOUT": "1"}
    with staging(site, env=env) as (gateway, path):
        for index in range(3):
            reply = post_json(
                gateway.url + "/v1/chat/completions",
                {"model": "chat", "messages": [{"role": "user", "content": f"trace {index}"}]},
                {"authorization": f"Bearer {ADMIN_KEY}"},
            )
            assert reply.status == 200
        gateway.flush()
        async with context(site, gateway, path) as ctx:
            result = await run_check("observability.tracing", ctx)
    assert result.status == "fail" and "the exporter refused or lost" in result.summary
    assert result.evidence["tracing"]["exports"]["spans_exported"] == 0


async def test_security_without_an_identity_provider_fails_the_gate(site: Site, production: Production) -> None:
    async with context(site, production.gateway, site.write_config(lambda raw: raw["auth"].pop("oidc"))) as ctx:
        result = await run_check("security.identity", ctx)
    assert result.status == "fail" and "no identity provider (auth.oidc)" in result.summary
    assert result.evidence["user_principals"] == ["risk-reviewer"]


async def test_reviewers_without_credentials_fail_the_gate(site: Site, production: Production) -> None:
    with staging(site) as (gateway, path):
        revoke_keys_of("risk-reviewer")(gateway)
        # Without an identity provider: the principal is still in the config, but a name without a key cannot open the queue.
        no_idp = site.write_config(lambda raw: raw["auth"].pop("oidc"))
        async with context(site, gateway, no_idp) as ctx:
            result = await run_check("review.reviewers", ctx)
        assert result.status == "fail" and "no active key with the role" in result.summary
        assert result.evidence["configured_principals"] == ["risk-reviewer"]
        # With the IdP mapping a reviewer role, someone may sign in that way: the gate cannot see it, so half marks.
        async with context(site, gateway, path) as ctx:
            result = await run_check("review.reviewers", ctx)
        assert result.status == "warn" and result.basis == "config" and result.score == 0.5


async def test_a_drill_older_than_the_config_fails_the_gate(site: Site, production: Production) -> None:
    broken = site.write_config({"models": {"chat": {"fallbacks": []}}})
    async with context(site, production.gateway, broken, loadtest_dir=production.loadtest_dir) as ctx:
        result = await run_check("reliability.drill", ctx)
    assert result.status == "fail" and "it ran under another config" in result.summary
    assert result.evidence["drill_binding"]["fingerprint"] != ctx.fingerprint


async def test_request_line_logging_off_fails_the_gate(site: Site, production: Production) -> None:
    with staging(site, {"observe": {"logs": {"request_lines": False}}}) as (gateway, path):
        async with context(site, gateway, path) as ctx:
            result = await run_check("observability.request_lines", ctx)
    assert result.status == "fail" and "request-line logging is off" in result.summary


async def test_secrets_never_change_the_fingerprint(site: Site, production: Production) -> None:
    async with context(site, production.gateway, production.config_path) as ctx:
        first = ctx.fingerprint
    rotated = Site(site.root, {**site.env, "PROVIDER_API_KEY": "sk-rotated", "HEADWAY_AUDIT_SECRET": "another-audit-secret-0000000000"})
    async with context(rotated, production.gateway, production.config_path) as ctx:
        assert ctx.fingerprint == first
        assert ctx.config is not None and "sk-rotated" not in str(redacted(ctx.config))


BROKEN_DEPLOYMENTS = [
    ("review-removed-with-tag", drop_review, {}, "review.hold_policies"),
    ("pipelines-absent-but-declared", drop_pipelines, {}, "pipelines.cadence"),
    ("request-lines-off", {"observe": {"logs": {"request_lines": False}}}, {}, "observability.request_lines"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "edit", "env", "first"), BROKEN_DEPLOYMENTS, ids=[b[0] for b in BROKEN_DEPLOYMENTS])
def test_a_deployment_with_one_declared_thing_broken_fails_with_that_check_first(
    site: Site, name: str, edit: Any, env: dict[str, str], first: str
) -> None:
    with staging(site, edit, env=env) as (gateway, path):
        loadtests, evals = site.root / f"runs-{name}", site.root / f"evals-{name}"
        run_evals(site, gateway, path, evals)
        options = GateOptions(
            profile=strict_test_profile(), url=gateway.url, config_file=str(path), drill=True,
            loadtest_dir=str(loadtests), evals_dir=str(evals), env=site.env,
        )
        report = run_sync(run_gate(options))
    assert report.verdict == "fail"
    failing = report.failing()
    assert failing[0].id == first, [(c.id, c.status, c.summary) for c in failing]
    assert {c.section for c in failing} == {first.split(".")[0]}, [(c.id, c.summary) for c in failing]


def profiled_source(site: Site, name: str, rows: str) -> tuple[Path, Path]:
    """`headway pipeline profile` of a CSV Headway does not run: its proposed contract and profile JSON."""
    folder = site.root / f"source-{name}"
    folder.mkdir()
    (folder / "customers.csv").write_text(rows)
    contract, profile = folder / "contract.yaml", folder / "profile.json"
    result = CliRunner().invoke(
        app, ["pipeline", "profile", str(folder / "customers.csv"), "--key", "id", "--json", str(profile), "--contract", str(contract)]
    )
    assert result.exit_code == 0, result.output
    return contract, profile


async def test_a_source_headway_does_not_run_counts_with_its_contract_and_a_current_profile(site: Site, production: Production) -> None:
    clean = "id,name,tier\n1,Ada,gold\n2,Grace,silver\n3,Edsger,gold\n"
    contract, profile = profiled_source(site, "clean", clean)

    def declare(raw: dict[str, Any], profile_path: Path = profile) -> None:
        raw["readiness"]["sources"] = {"crm": {"contract": str(contract), "profile": str(profile_path)}}
        raw["readiness"]["routes"]["chat"]["sources"] = ["knowledge", "crm"]

    async with context(site, production.gateway, site.write_config(declare)) as ctx:
        for check_id in ("pipelines.cadence", "pipelines.checks"):
            result = await run_check(check_id, ctx)
            assert result.status == "pass", (check_id, result.summary)
            assert result.evidence["pipelines"]["external"]["crm"]["rows"] == 3

    # Duplicate keys are a critical finding: the source fails the data section.
    _, duplicated = profiled_source(site, "duplicated", "id,name\n1,Ada\n1,Grace\n2,Edsger\n")
    async with context(site, production.gateway, site.write_config(lambda raw: declare(raw, duplicated))) as ctx:
        result = await run_check("pipelines.checks", ctx)
    assert result.status == "fail" and "crm (critical findings: duplicate_keys 1)" in result.summary

    # A profile older than the profile allows: the source is late.
    old = json.loads(profile.read_text())
    old["profiled_at"] = time.time() - 30 * 86400
    stale = profile.with_name("stale.json")
    stale.write_text(json.dumps(old))
    async with context(site, production.gateway, site.write_config(lambda raw: declare(raw, stale))) as ctx:
        result = await run_check("pipelines.cadence", ctx)
    assert result.status == "fail" and "crm (profiled 30.0 days ago; limit 7)" in result.summary


async def test_reviewer_disagreement_fails_quality_even_with_passing_evaluations(site: Site) -> None:
    with staging(site) as (gateway, path):
        evals = site.root / "evals-disagreement"
        assert all(run.passed for run in run_evals(site, gateway, path, evals))
        async with context(site, gateway, path, evals_dir=evals) as ctx:
            assert (await run_check("quality.evals", ctx)).status == "pass"
            # A human reviewer rejects a held answer: the route's answers are not what people accept.
            held = post_json(
                gateway.url + "/v1/chat/completions",
                {"model": "decisions", "messages": [{"role": "user", "content": "approve a loan of 900?"}]},
                {"authorization": f"Bearer {ADMIN_KEY}", "prefer": "review=ticket"},
            )
            assert held.status == 202
            reviewer = admin("POST", gateway.url + "/admin/keys", {"principal": "risk-reviewer", "kind": "user", "roles": ["reviewer"]})["key"]
            decided = post_json(
                f"{gateway.url}/admin/reviews/{held.json()['id']}/decide", {"decision": "reject", "comment": "wrong rate quoted"},
                {"authorization": f"Bearer {reviewer}"},
            )
            assert decided.status == 200, decided.body
            result = await run_check("quality.evals", ctx)
    assert result.status == "fail" and "reviewers approved 0% of held answers unchanged" in result.summary
    assert result.evidence["signals"]["reviewer_agreement"]["decided"] == 1


async def test_a_missed_load_slo_says_where_the_time_went(site: Site, production: Production) -> None:
    report = latest_run(production.loadtest_dir)
    assert report is not None
    report.steps = [dataclasses.replace(s, error_rate=0.2, errors={"http_500": s.sent // 5}) for s in report.steps]
    folder = site.root / "runs-explained"
    save_run(report, folder)
    async with context(site, production.gateway, production.config_path, loadtest_dir=folder) as ctx:
        result = await run_check("load.slo", ctx)
    assert result.status == "fail" and "time went mostly to" in result.summary
    breakdown = result.evidence["where_time_went"]
    # From the run's own requests in the request log: every part of the mean accounted for.
    assert breakdown["records"] >= 100
    parts = breakdown["upstream_ms"] + breakdown["retries_and_fallbacks_ms"] + breakdown["queue_and_headway_ms"]
    assert abs(parts - breakdown["mean_ms"]) <= 0.5


async def test_where_the_time_went_reads_the_whole_run_not_the_newest_page(
    site: Site, production: Production, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run's records are read by its time window, page after page: traffic after the run
    (other tests here, an operator's) used to push its older records off the one page read,
    and the breakdown then spoke for part of the run without saying so."""
    from headway.gate import context as gate_context

    report = latest_run(production.loadtest_dir)
    assert report is not None
    report.steps = [dataclasses.replace(s, error_rate=0.2, errors={"http_500": s.sent // 5}) for s in report.steps]
    folder = site.root / "runs-paged"
    save_run(report, folder)
    monkeypatch.setattr(gate_context, "RECENT_LIMIT", 20)  # pages of 20: the run spans several
    async with context(site, production.gateway, production.config_path, loadtest_dir=folder) as ctx:
        whole = (await run_check("load.slo", ctx)).evidence["where_time_went"]
    assert whole["complete"] is True and whole["records"] >= 100  # every page of the run, not 20
    monkeypatch.setattr(gate_context, "WINDOW_PAGES", 2)
    async with context(site, production.gateway, production.config_path, loadtest_dir=folder) as ctx:
        partial = (await run_check("load.slo", ctx)).evidence["where_time_went"]
    assert partial["complete"] is False and partial["records"] == 40  # says it is partial


def test_history_says_what_changed_in_the_config_since_the_last_report(site: Site) -> None:
    with staging(site) as (gateway, path):
        def gate(config: Path) -> Any:
            options = GateOptions(profile=strict_test_profile(), url=gateway.url, config_file=str(config), env=site.env,
                                  loadtest_dir=str(site.root / "runs-history"), evals_dir=str(site.root / "evals-history"))
            return run_sync(run_gate(options))

        first = gate(path)
        changed = site.write_config({"models": {"chat": {"retries": {"max_retries": 1}}}, "admission": {"limits": {"keys": {"*": {"requests_per_minute": 100}}}}})
        second = gate(changed)
        third = gate(changed)
    assert first.changed_since is None or first.changed_since["report"] != first.id
    assert second.changed_since is not None and second.changed_since["report"] == first.id
    assert second.changed_since["config_changed"] and second.fingerprint != first.fingerprint
    assert second.changed_since["changed"] == ["admission.limits (changed)", "models.chat (changed)"]
    assert third.changed_since is not None and third.changed_since["config_changed"] is False and third.changed_since["changed"] == []
    # Every format says it: the document handed to security, legal and operations too.
    assert "config changed: admission.limits (changed), models.chat (changed)" in render_markdown(second)
    assert f"Config fingerprint (secrets excluded): `{second.fingerprint}`" in render_markdown(second)
