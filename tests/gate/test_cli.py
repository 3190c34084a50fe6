"""``headway gate``: exit codes 0/1/2/3 follow the verdict, and every output format carries the report."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from headway.cli.gate_cmd import render
from headway.cli.main import app
from headway.gate.registry import check_ids
from headway.gate.results import GateReport
from headway.testing import free_port
from tests.gate.conftest import ADMIN_KEY, PRODUCTION, TEST_PROFILE, Production, Site, admin, staging

runner = CliRunner()


def gate(site: Site, production: Production, *args: str, config: Path = PRODUCTION) -> Any:
    """The command as CI runs it, with the site's environment (the config's variables resolve as the gateway's did)."""
    arguments = [
        "gate", "--url", production.gateway.url, "--config", str(config), "--api-key", ADMIN_KEY,
        "--loadtests", str(production.loadtest_dir), "--evals", str(production.evals_dir), "--no-save", *args,
    ]
    return runner.invoke(app, arguments, env=site.env)


def profile_file(site: Site, body: dict[str, Any], name: str) -> str:
    path = site.root / f"{name}.json"  # YAML is a superset of JSON
    path.write_text(json.dumps(body))
    return str(path)


def test_an_unreachable_deployment_cannot_be_evaluated_but_its_config_still_is(site: Site) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    # No secrets in this environment (CI): the gate judges the config's shape with placeholders.
    result = runner.invoke(app, ["gate", "--url", url, "--config", str(PRODUCTION), "--profile", "strict", "--format", "json"])
    assert result.exit_code == 3, result.output
    report = json.loads(result.stdout)
    assert report["verdict"] == "unknown" and report["exit_code"] == 3
    assert report["reason"].startswith(f"cannot reach the deployment at {url}")
    statuses = {c["id"]: c["status"] for c in report["checks"]}
    assert statuses["security.secrets"] == "pass"  # the file itself is the evidence
    # Settings only the file shows are read from config: at most half marks.
    assert statuses["reliability.timeouts"] == statuses["review.hold_policies"] == "warn"
    assert {c["basis"] for c in report["checks"] if c["id"] in ("reliability.timeouts", "review.hold_policies")} == {"config"}
    assert statuses["security.keys"] == statuses["observability.metrics"] == "unknown"


def test_pass_is_exit_0_in_every_format(site: Site, production: Production, tmp_path: Path) -> None:
    strict = profile_file(site, TEST_PROFILE, "strict-cli")
    table = gate(site, production, "--profile", strict)
    assert table.exit_code == 0, table.output
    assert "verdict: pass (exit 0)" in table.output and "security.audit" in table.output

    as_json = gate(site, production, "--profile", strict, "--format", "json")
    assert as_json.exit_code == 0 and json.loads(as_json.stdout)["verdict"] == "pass"

    markdown = tmp_path / "gate.md"
    assert gate(site, production, "--profile", strict, "--format", "markdown", "--out", str(markdown)).exit_code == 0
    text = markdown.read_text()
    assert text.startswith("# Headway readiness gate") and "**Verdict: pass**" in text
    assert "| Reliability and fallback | 1.00 of 6 checks | 1.00 | met |" in text and "## What fails" not in text
    assert f"Config fingerprint (secrets excluded): `{production.after.fingerprint}`" in text

    page = tmp_path / "gate.html"
    assert gate(site, production, "--profile", strict, "--format", "html", "--out", str(page)).exit_code == 0
    html = page.read_text()
    embedded = re.search(r'<script type="application/json" id="headway-gate-report">(.*?)</script>', html, re.S)
    assert embedded is not None and json.loads(embedded.group(1))["verdict"] == "pass"
    assert html.count('class="gate-check"') == len(check_ids())
    assert 'id="gate-attention"' not in html  # nothing fails: no "what fails" block


def test_a_failed_required_check_is_exit_2_with_why_evidence_and_fix(site: Site, production: Production, tmp_path: Path) -> None:
    open_config = site.write_config({"auth": {"mode": "none"}})  # the file says open; the gate believes the file
    result = gate(site, production, "--profile", "standard", "--config", str(open_config), "--format", "markdown", "--out", str(tmp_path / "r.md"))
    assert result.exit_code == 2, result.output
    text = (tmp_path / "r.md").read_text()
    section = text.split("### FAIL `security.auth`", 1)[1]
    assert "**Why:** auth.mode is none" in section and "**Fix:** Set `auth: {mode: required" in section
    assert '"mode": "none"' in section  # the evidence

    # The HTML report (the console's readiness page uses the same body) puts what fails first.
    page = tmp_path / "r.html"
    gate(site, production, "--profile", "standard", "--config", str(open_config), "--format", "html", "--out", str(page))
    html = page.read_text()
    attention = html.index('id="gate-attention"')
    assert attention < html.index('id="gate-sections"')
    first_row = re.search(r'class="gate-attention-row" data-check="([^"]+)" data-status="([^"]+)"', html[attention:])
    assert first_row is not None and first_row.group(2) == "fail"
    assert 'data-check="security.auth" data-status="fail"' in html[attention:html.index('id="gate-sections"')]


def test_warnings_only_is_exit_1(site: Site, production: Production) -> None:
    # A waiver is accepted risk: shown, half marks, never a clean pass (readiness edits keep the evidence bound).
    slow_sla = profile_file(site, {**TEST_PROFILE, "evidence": {"review_max_sla_s": 60}}, "strict-slow-sla")
    waive_holds = site.write_config(lambda raw: raw["readiness"].update(
        waivers=[{"check": "review.hold_policies", "reason": "a one-hour SLA is agreed with the regulator", "owner": "risk-lead"}]
    ))
    result = gate(site, production, "--profile", slow_sla, "--config", str(waive_holds), "--format", "json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["verdict"] == "warn"
    assert [(c["id"], c["status"]) for c in report["checks"] if c["status"] != "pass"] == [("review.hold_policies", "waived")]
    waived_check = next(c for c in report["checks"] if c["id"] == "review.hold_policies")
    assert waived_check["waiver"]["owner"] == "risk-lead" and waived_check["score"] == 0.5
    # Every format shows the waiver with its owner and reason.
    shown = GateReport.from_dict(report)
    html, markdown, table = render(shown, "html"), render(shown, "markdown"), render(shown, "table")
    assert 'id="gate-waivers"' in html and "risk-lead" in html and "a one-hour SLA is agreed with the regulator" in html
    assert "## Waivers (accepted risk)" in markdown and "| `review.hold_policies` | risk-lead |" in markdown
    assert "waived by risk-lead" in table


def test_the_table_fits_80_columns_and_wraps_instead_of_cutting(site: Site, production: Production) -> None:
    text = render(production.before, "table", width=80)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "…" not in text
    # Failing checks come first, each with why, when its evidence was made, and the fix.
    first_fail = text.index("FAIL  ")
    assert first_fail < text.index("share of points")  # the failing block comes before the table
    assert all(check_id in text for check_id in check_ids())  # ids are whole in the table
    assert "evidence: " in text and "fix: " in text
    # Every word of a long finding survives the wrapping.
    drill = next(c for c in production.before.checks if c.id == "reliability.drill")
    assert all(word in text for word in drill.summary.split())


def test_a_bad_profile_or_format_cannot_be_evaluated(site: Site, production: Production) -> None:
    bad = profile_file(site, {"extends": "strict", "checks": {"security.authn": {"required": True}}}, "bad-profile")
    result = gate(site, production, "--profile", bad)
    assert result.exit_code == 3 and "unknown check 'security.authn'" in result.output
    assert gate(site, production, "--format", "pdf").exit_code == 3


def test_an_operator_key_reads_every_piece_of_evidence(site: Site) -> None:
    with staging(site) as (gateway, path):
        body = {"principal": "release-bot", "roles": ["operator"], "models": ["chat"], "expires_in_s": 7 * 86400}
        operator = admin("POST", gateway.url + "/admin/keys", body)["key"]
        result = runner.invoke(
            app, ["gate", "--url", gateway.url, "--config", str(path), "--api-key", operator, "--format", "json"], env=site.env
        )
    report = json.loads(result.stdout)
    assert [c["id"] for c in report["checks"] if c["status"] == "unknown"] == []
    assert report["notes"] == []  # the report was stored with the operator's key, too
