"""The bundled example configs against the strict profile: the demo fails on exactly its gaps; production passes.

Both run as real gateways against the session simulator; the gate measures them over HTTP.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import pytest

from headway.config.loader import load_config
from headway.gate.registry import check_ids
from headway.gate.runner import GateOptions, run_gate
from headway.testing import GatewayThread
from tests.gate.conftest import ADMIN_KEY, DEMO, Production, admin, statuses, strict_test_profile

# What the demo lacks, by design: it is a laptop demo, not a production deployment.
DEMO_FAILS = {
    "reliability.fallbacks",  # one deployment per model, no fallback models
    "reliability.degraded",  # no degraded mode
    "reliability.drill",  # nothing was ever exercised
    "load.slo",  # no load test
    "load.concurrency",
    "load.concurrency_limits",  # no admission limits
    "load.rate_limits",
    "observability.tracing",  # tracing 'auto' without an OTLP endpoint
    "observability.alerts",  # no alert rules
    "security.auth",  # auth: {mode: none}
    "security.secrets",  # ${SIM_API_KEY:-sim-key}: a secret default written in the file
    "security.keys",  # auth is off
    "security.audit",  # the chain verifies, but has no key
}


async def test_the_demo_config_fails_strict_with_exactly_its_gaps(sim: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEADWAY_SIM_URL", sim.url)
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # the demo's store and spill journal are relative paths
    with GatewayThread(load_config(DEMO)) as gateway:
        client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="unused", max_retries=0)
        for index in range(25):  # enough traffic for metrics and cost to be measurable
            client.chat.completions.create(model="chat-default", messages=[{"role": "user", "content": f"demo {index}"}])
        gateway.flush()
        options = GateOptions(profile=strict_test_profile(), url=gateway.url, config_file=str(DEMO), loadtest_dir=str(tmp_path / "runs"))
        report = await run_gate(options)

    failing = {c.id for c in report.checks if c.status in ("fail", "warn", "unknown")}
    assert failing == DEMO_FAILS
    assert report.verdict == "fail" and report.exit_code == 2
    assert {c.id for c in report.checks} == set(check_ids())
    for check in report.checks:
        if check.id in DEMO_FAILS:
            # Every failing check says why, shows the evidence, and says how to fix it.
            assert check.summary and check.evidence and check.fix, check.id
        else:
            assert check.status in ("pass", "n/a") and check.fix is None, check.id
    by_id = {c.id: c for c in report.checks}
    assert sorted(by_id["security.secrets"].evidence["defaults"]) == ["providers.sim-anthropic.api_key", "providers.sim-openai.api_key"]
    assert by_id["observability.cost"].evidence["answered"] == 25
    sections = {s.id: s for s in report.sections}
    assert sections["security"].score == 0.5 and not sections["security"].passed
    assert sections["pipelines"].passed and sections["review"].passed  # nothing configured: nothing to fail
    assert report.score == 0.0  # the load section has nothing


def test_production_fails_before_its_drill_and_passes_after(production: Production) -> None:
    before = statuses(production.before)
    # Nothing was exercised and no traffic flowed yet: no drill, no load test, metrics without
    # samples and too few requests to measure cost coverage (the last two only warn).
    assert {k: v for k, v in before.items() if v != "pass"} == {
        "reliability.drill": "fail",
        "load.slo": "fail",
        "load.concurrency": "fail",
        "observability.metrics": "warn",
        "observability.cost": "warn",
    }
    assert production.before.verdict == "fail"

    after = production.after
    assert set(statuses(after).values()) == {"pass"}, {k: v for k, v in statuses(after).items() if v != "pass"}
    assert after.verdict == "pass" and after.exit_code == 0
    assert after.score == min(s.max for s in after.sections)
    assert all(s.passed and s.score == s.max for s in after.sections)
    assert any("fault drill" in note and "passed" in note for note in after.notes)


def test_the_drill_left_evidence_the_checks_read(production: Production) -> None:
    url = production.gateway.url
    drill = admin("GET", url + "/admin/gate/drills")["data"][0]
    assert drill["passed"] and drill["model"] == "chat"
    steps = {s["name"]: s for s in drill["steps"]}
    assert set(steps) == {"retry", "fallback", "degraded", "breaker"}
    served = {name: admin("GET", f"{url}/admin/requests/{s['request_id']}")["served_by"] for name, s in steps.items()}
    assert served["retry"] == "retry"
    assert served["fallback"] == "fallback:chat-backup"
    assert served["degraded"] == "degraded"
    breaker = admin("GET", f"{url}/admin/requests/{steps['breaker']['request_id']}")
    assert any(a["error_type"] == "circuit_open" and a["deployment"] == "primary/gpt-4o-mini" for a in breaker["attempts"])
    runs = sorted(production.loadtest_dir.glob("loadtest-*.json"))
    assert len(runs) == 1
    by_id = {c.id: c for c in production.after.checks}
    assert by_id["load.concurrency"].evidence["steps"][0]["concurrency"] == 8


def test_every_report_is_stored_with_its_history(production: Production) -> None:
    url = production.gateway.url
    history = {h["id"]: h for h in admin("GET", url + "/admin/gate/reports")["data"]}
    after, before = history[production.after.id], history[production.before.id]
    assert (after["verdict"], after["exit_code"], before["verdict"], before["failing"]) == ("pass", 0, "fail", 5)
    assert list(history).index(after["id"]) < list(history).index(before["id"])  # newest first
    stored = admin("GET", f"{url}/admin/gate/reports/{production.before.id}")
    assert {c["id"] for c in stored["checks"] if c["status"] == "fail"} == {"reliability.drill", "load.slo", "load.concurrency"}
    assert stored["exit_code"] == 2
    facts = admin("GET", url + "/admin/gate/facts")
    assert facts["tracing"]["enabled"] and facts["tracing"]["exporter"] == "otlp"
    assert facts["config"]["auth"]["bootstrap_admin_key"] == "**********"  # secrets never leave masked
    assert ADMIN_KEY not in str(facts)
