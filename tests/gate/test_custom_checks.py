"""Organisation-specific checks from a profile: each generic kind passes when it holds and fails when it does not.

Parametrised over ``CUSTOM_KINDS``: a new kind without a case here fails the suite.
"""

from __future__ import annotations

from typing import Any

import pytest

from headway.gate.checks.custom import MISSING, config_value, custom_check
from headway.gate.custom_spec import CUSTOM_KINDS
from headway.gate.profile import parse_profile
from headway.gate.runner import GateOptions, evaluate, run_gate
from tests.gate.conftest import TEST_PROFILE, Production, Site, context

BASE = {"section": "observability", "title": "an organisation rule"}
# kind -> (a spec that holds on the production example after its drill, the same spec broken)
CASES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "config": (
        {"kind": "config", "key": "observe.tracing.enabled", "equals": "on"},
        {"kind": "config", "key": "observe.tracing.enabled", "equals": "off"},
    ),
    "metric": (
        {"kind": "metric", "metric": "headway_requests_total", "labels": {"model": "chat"}, "min": 10},
        {"kind": "metric", "metric": "headway_requests_total", "labels": {"model": "chat"}, "max": 1},
    ),
    "request_ratio": (
        {"kind": "request_ratio", "match": {"status": "error"}, "max": 0.05, "min_requests": 10},
        {"kind": "request_ratio", "match": {"served_by": "fallback:*"}, "of": {"model": "chat"}, "min": 0.5},
    ),
    "http": (
        {"kind": "http", "path": "/admin/keys", "status": 401, "authenticated": False},
        {"kind": "http", "path": "/admin/keys", "status": 200, "authenticated": False},
    ),
}


def test_every_kind_has_a_case() -> None:
    assert sorted(CASES) == sorted(CUSTOM_KINDS)


@pytest.mark.parametrize("kind", CUSTOM_KINDS)
async def test_a_custom_check_passes_when_it_holds_and_fails_when_it_does_not(kind: str, site: Site, production: Production) -> None:
    holds, broken = CASES[kind]
    profile = parse_profile(
        {**TEST_PROFILE, "extra_checks": [{"id": "org.holds", **BASE, **holds}, {"id": "org.broken", **BASE, **broken}]},
        source="org.yaml",
    )
    checks = {spec.id: custom_check(spec) for spec in profile.extra_checks}
    async with context(site, production.gateway, production.config_path, profile=profile) as ctx:
        passing = await evaluate(checks["org.holds"], ctx)
        failing = await evaluate(checks["org.broken"], ctx)
    assert passing.status == "pass", passing.summary
    assert failing.status == "fail" and failing.score == 0 and failing.required, failing.summary
    assert failing.fix and failing.evidence


async def test_custom_checks_join_the_report_in_their_section(site: Site, production: Production) -> None:
    profile = parse_profile(
        {**TEST_PROFILE, "extra_checks": [{"id": "org.audit-trail-read", "section": "compliance", "title": "Audit trail readable",
                                           "kind": "http", "path": "/admin/audit", "status": 200, "required": False}]},
        source="org.yaml",
    )
    options = GateOptions(
        profile=profile, url=production.gateway.url, config_file=str(production.config_path),
        loadtest_dir=str(production.loadtest_dir), evals_dir=str(production.evals_dir), save=False, env=site.env,
    )
    report = await run_gate(options)
    assert report.checks[-1].id == "org.audit-trail-read" and report.checks[-1].status == "pass"
    assert report.sections[-1].id == "compliance" and report.sections[-1].title == "Compliance"
    assert report.verdict == "pass"


def test_config_keys_are_dotted_paths_with_list_indexes() -> None:
    tree = {"models": {"chat": {"deployments": [{"provider": "primary"}]}}}
    assert config_value(tree, "models.chat.deployments.0.provider") == "primary"
    assert config_value(tree, "models.chat.deployments.3.provider") is MISSING
    assert config_value(tree, "models.chat.price") is MISSING
