"""The bundled example configs against the strict profile: the demo fails on exactly its gaps; production passes.

Both run as real gateways against the session simulator; the gate measures them over HTTP.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import openai
import pytest

from headway.cli.demo import create_demo_keys
from headway.config.loader import load_config
from headway.gate.registry import check_ids
from headway.gate.runner import GateOptions, run_gate
from headway.testing import GatewayThread
from tests.gate.conftest import ADMIN_KEY, DEMO, Production, admin, statuses, strict_test_profile

# What the demo lacks, by design: a laptop tour, gated with its keys but without its tour (no
# drill, no evaluation) and with no readiness declarations, so every section that needs one fails
# instead of passing as "not applicable".
DEMO_FAILS = {
    "reliability.retries",  # configured, never exercised by a drill: read from config, half marks
    "reliability.fallbacks",
    "reliability.degraded",
    "reliability.drill",  # nothing was ever exercised
    "load.slo",  # no load test
    "load.concurrency",
    "observability.tracing",  # tracing 'auto' without an OTLP endpoint
    "observability.alerts",  # rules, but no receiver
    "security.secrets",  # ${SIM_API_KEY:-sim-key}: a secret default written in the file
    "security.keys",  # the demo's keys never expire and may call every model
    "security.identity",  # no identity provider: people hold keys the gateway made
    "pipelines.cadence",  # no schedule: runs only by hand
    "pipelines.checks",  # never ran here
    "review.hold_policies",  # a hold policy, but no drill held a request: read from config
    "quality.evals",  # no declared routes, no evaluation
    "operations.owners",  # no declared routes: nobody owns anything
    "operations.on_call",
    "operations.runbooks",
    "operations.residency",
}


async def test_the_demo_config_fails_strict_with_exactly_its_gaps(sim: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEADWAY_SIM_URL", sim.url)
    monkeypatch.setenv("HEADWAY_AUDIT_SECRET", "audit-secret-for-the-demo-gate-test")
    monkeypatch.setenv("HEADWAY_DEMO_STORE", f"sqlite:///{tmp_path / 'demo.db'}")
    (tmp_path / "knowledge").mkdir()
    (tmp_path / "knowledge" / "refunds.md").write_text("# Refunds\n\nRefunds take five working days.\n")
    monkeypatch.setenv("HEADWAY_DEMO_KNOWLEDGE", str(tmp_path / "knowledge"))
    monkeypatch.setattr(logging.getLogger("headway.requests"), "level", logging.INFO)  # as `headway serve` logs
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # the demo's store and spill journal are relative paths
    keys = create_demo_keys(str(DEMO))  # as `headway demo` does: keys made in the store, no bootstrap key
    with GatewayThread(load_config(DEMO)) as gateway:
        client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=keys["app"], max_retries=0)
        for index in range(25):  # enough traffic for metrics and cost to be measurable
            client.chat.completions.create(model="chat-default", messages=[{"role": "user", "content": f"demo {index}"}])
        gateway.flush()
        options = GateOptions(
            profile=strict_test_profile(), url=gateway.url, config_file=str(DEMO), api_key=keys["operator"], loadtest_dir=str(tmp_path / "runs"),
            evals_dir=str(tmp_path / "evals"),
        )
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
    assert sorted(by_id["security.secrets"].evidence["defaults"]) == [
        "providers.sim-anthropic.api_key", "providers.sim-openai-b.api_key", "providers.sim-openai.api_key",
    ]
    assert by_id["observability.cost"].evidence["answered"] == 25
    sections = {s.id: s for s in report.sections}
    assert sections["security"].score == 0.4 and not sections["security"].passed  # two of five checks: a share
    # Nothing declared is a failure, never "not applicable" with full marks.
    assert sections["operations"].score == 0 and sections["quality"].score == 0
    assert report.score == 0.0


BEFORE_DRILL = {
    # Settings the file and the running process agree on, but nothing exercised: half marks.
    "reliability.retries": "warn",
    "reliability.fallbacks": "warn",
    "reliability.degraded": "warn",
    "review.hold_policies": "warn",
    # No bound evidence yet: no drill, no load test, no evaluation, no residency probe.
    "reliability.drill": "fail",
    "load.slo": "fail",
    "load.concurrency": "fail",
    "quality.evals": "fail",
    "operations.residency": "fail",
    # Live signals with nothing behind them yet (a fresh process, no traffic).
    "observability.tracing": "fail",
    "observability.request_lines": "fail",
    "observability.metrics": "warn",
    "observability.cost": "warn",
}


def test_production_fails_before_its_drill_and_passes_after(production: Production) -> None:
    before = statuses(production.before)
    assert {k: v for k, v in before.items() if v != "pass"} == BEFORE_DRILL
    assert production.before.verdict == "fail"
    # Failing checks come first in every report, worst first.
    assert [c.status for c in production.before.failing()][:1] == ["fail"]

    # `headway eval` ran both declared routes' sets, then `headway gate --drill`: no other traffic.
    assert [(r.route, r.passed) for r in production.evals] == [("chat", True), ("decisions", True)]
    after = production.after
    assert set(statuses(after).values()) == {"pass"}, {k: v for k, v in statuses(after).items() if v != "pass"}
    assert after.verdict == "pass" and after.exit_code == 0
    assert after.score == 1.0 and all(s.passed and s.score == 1.0 for s in after.sections)
    assert all(c.basis == "measured" for c in after.checks)
    assert any("drill" in note and "passed" in note for note in after.notes)
    assert after.fingerprint and after.fingerprint == production.before.fingerprint
    assert after.changed_since is not None and after.changed_since["report"] == production.before.id
    assert after.changed_since["config_changed"] is False and after.changed_since["changed"] == []


def test_the_drill_left_evidence_the_checks_read(production: Production) -> None:
    url = production.gateway.url
    drill = admin("GET", url + "/admin/gate/drills")["data"][0]
    assert drill["passed"] and drill["model"] == "chat"
    assert drill["binding"]["fingerprint"] == production.after.fingerprint and drill["binding"]["target"] == url
    assert set(drill["binding"]["routes"]) == {"chat", "decisions"}
    steps = {s["name"]: s for s in drill["steps"]}
    assert set(steps) == {"retry", "fallback", "degraded", "breaker", "route:chat", "residency:chat", "hold:decisions", "residency:decisions"}
    served = {name: admin("GET", f"{url}/admin/requests/{steps[name]['request_id']}")["served_by"] for name in ("retry", "fallback", "degraded")}
    assert served == {"retry": "retry", "fallback": "fallback:chat-backup", "degraded": "degraded"}
    breaker = admin("GET", f"{url}/admin/requests/{steps['breaker']['request_id']}")
    assert any(a["error_type"] == "circuit_open" and a["deployment"] == "primary/gpt-4o-mini" for a in breaker["attempts"])
    # The held request went end to end: held, decided by the drill reviewer, released, webhook acknowledged.
    hold = steps["hold:decisions"]["observed"]
    assert hold["reviewer_sees_item"] and hold["caller"].endswith("HTTP 200") and hold["webhooks"][0]["verified"] is True
    review = admin("GET", f"{url}/admin/reviews/{hold['review']}")
    assert review["status"] == "approved" and review["decided_by"].startswith("headway-gate-drill-reviewer")
    # The drill reviewer's key is gone: it proves the workflow, not that someone staffs the queue.
    keys = admin("GET", url + "/admin/keys?limit=1000")["data"]
    assert not [k for k in keys if k["principal"] == "headway-gate-drill-reviewer"]
    # Residency: pinned to au it reached only au deployments; pinned nowhere it reached none.
    assert steps["residency:chat"]["observed"]["nowhere"]["reached"] == []
    runs = sorted(production.loadtest_dir.glob("loadtest-*.json"))
    assert len(runs) == 1
    by_id = {c.id: c for c in production.after.checks}
    assert by_id["load.concurrency"].evidence["steps"][0]["concurrency"] == 8
    assert by_id["load.slo"].evidence["binding"]["fingerprint"] == production.after.fingerprint


def test_every_report_is_stored_with_its_history(production: Production) -> None:
    url = production.gateway.url
    history = {h["id"]: h for h in admin("GET", url + "/admin/gate/reports")["data"]}
    after, before = history[production.after.id], history[production.before.id]
    assert (after["verdict"], after["exit_code"], before["verdict"], before["failing"]) == ("pass", 0, "fail", len(BEFORE_DRILL))
    assert list(history).index(after["id"]) < list(history).index(before["id"])  # newest first
    stored = admin("GET", f"{url}/admin/gate/reports/{production.before.id}")
    assert {c["id"] for c in stored["checks"] if c["status"] == "fail"} == {k for k, v in BEFORE_DRILL.items() if v == "fail"}
    assert stored["fingerprint"] == production.before.fingerprint and stored["config_leaves"]
    assert stored["exit_code"] == 2
    facts = admin("GET", url + "/admin/gate/facts")
    assert facts["tracing"]["enabled"] and facts["tracing"]["exporter"] == "otlp"
    assert facts["tracing"]["exports"]["spans_exported"] > 0 and facts["tracing"]["exports"]["spans_failed"] == 0
    assert facts["logs"]["request_lines_written"] > 0
    assert facts["config"]["auth"]["bootstrap_admin_key"] == "**********"  # secrets never leave masked
    assert ADMIN_KEY not in str(facts)
