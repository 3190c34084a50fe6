"""Scoring and profiles as pure functions: section shares, pass marks, required checks, unknowns, waivers, the config cap."""

from __future__ import annotations

from pathlib import Path

import pytest

from headway.errors import ConfigError
from headway.gate.profile import load_profile, parse_profile
from headway.gate.registry import check_ids, checks_for
from headway.gate.results import CheckResult, Finding, passed
from headway.gate.runner import _result
from headway.gate.scoring import gate_score, sections, verdict


def result(check_id: str, score: float | None, *, required: bool = False, waived: bool = False) -> CheckResult:
    status = "waived" if waived else Finding(score, "why").status
    section = check_id.split(".")[0]
    return CheckResult(check_id, section, check_id, required, "what", score, status, "why", {}, None)


def test_a_section_scores_its_share_of_the_points_and_the_gate_the_lowest_section() -> None:
    profile = load_profile("standard")
    results = [
        result("reliability.a", 1), result("reliability.b", 0.5), result("reliability.c", 0),
        result("security.a", 1), result("security.b", 1),
    ]
    found = {s.id: s for s in sections(results, profile)}
    assert (found["reliability"].score, found["reliability"].max, found["reliability"].minimum) == (0.5, 3, 0.5)
    assert (found["security"].score, found["security"].max, found["security"].minimum) == (1, 2, 0.5)
    assert gate_score(list(found.values())) == 0.5
    assert [s.id for s in sections(results, profile)] == ["reliability", "security"]  # report order, not input order


def test_the_score_moves_with_the_evidence_whatever_the_section_sizes() -> None:
    # The old score was the minimum of raw sums: a two-check section pinned it at 2 whatever happened.
    profile = load_profile("strict")
    big = [result(f"reliability.c{i}", 1) for i in range(6)]
    good = [*big, result("review.a", 1), result("review.b", 1)]
    bad = [*big, result("review.a", 1), result("review.b", 0)]
    assert gate_score(sections(good, profile)) == 1.0
    assert gate_score(sections(bad, profile)) == 0.5
    assert verdict(good, profile) == "pass" and verdict(bad, profile) == "fail"


def test_a_waiver_is_shown_never_full_marks_and_caps_the_verdict_at_warn() -> None:
    profile = load_profile("strict")
    results = [result("pipelines.a", 0, required=True, waived=True), result("pipelines.b", 0, required=True, waived=True), result("security.a", 1, required=True)]
    found = {s.id: s for s in sections(results, profile)}
    assert found["pipelines"].score == 0.5 and found["pipelines"].waived and found["pipelines"].passed
    assert verdict(results, profile) == "warn"  # accepted risk, never a clean pass
    assert gate_score(list(found.values())) == 0.5


def test_a_check_read_from_config_scores_at_most_half() -> None:
    check = next(c for c in checks_for(load_profile("strict")) if c.id == "reliability.timeouts")
    from_config = _result(check, load_profile("strict"), passed("timeouts set", basis="config").capped())
    measured = _result(check, load_profile("strict"), passed("timeouts set").capped())
    assert (from_config.score, from_config.status, from_config.basis) == (0.5, "warn", "config")
    assert "read from config, not measured" in from_config.summary and from_config.fix
    assert (measured.score, measured.status, measured.basis) == (1.0, "pass", "measured")


def test_a_waived_check_says_who_accepted_it_and_why() -> None:
    check = next(c for c in checks_for(load_profile("strict")) if c.id == "pipelines.cadence")
    waiver = {"waived": "pipelines", "reason": "no retrieval: answers use no organisation data", "owner": "platform-team"}
    shown = _result(check, load_profile("strict"), Finding(0.0, "no data source is declared"), waiver)
    assert shown.status == "waived" and shown.waiver == waiver
    assert "WAIVED by platform-team" in shown.summary and "no data source is declared" in shown.summary


@pytest.mark.parametrize(
    ("scores", "required", "expected"),
    [
        ((1, 1, 1), (True, True, True), "pass"),
        ((1, 0.5, 1), (False, False, False), "warn"),  # short of full marks, but above the section's half
        ((1, 0.5, 1), (False, True, False), "fail"),  # a required check must score 1
        ((0, 0, 1), (False, False, False), "fail"),  # 1 of 3 is below half the section
        ((1, None, 1), (False, False, False), "warn"),  # an unknown that could only cost a warning
        ((1, None, 1), (False, True, False), "unknown"),  # an unknown that decides pass or fail
        ((0, None, 1), (True, False, False), "fail"),  # failed whatever the unknown turns out to be
    ],
)
def test_verdicts(scores: tuple[float | None, ...], required: tuple[bool, ...], expected: str) -> None:
    results = [result(f"security.c{i}", s, required=r) for i, (s, r) in enumerate(zip(scores, required, strict=True))]
    assert verdict(results, load_profile("standard")) == expected


def test_strict_needs_every_check_and_standard_only_the_security_basics() -> None:
    strict, standard = load_profile("strict"), load_profile("standard")
    assert all(strict.required(check_id) for check_id in check_ids())
    required = {check_id for check_id in check_ids() if standard.required(check_id)}
    assert required == {
        "reliability.timeouts", "observability.metrics", "observability.readiness", "security.auth", "security.secrets", "security.audit",
    }
    assert strict.minimum("reliability", 6) == 6 and standard.minimum("reliability", 6) == 3  # points; scoring turns them into shares
    assert standard.minimum("review", 3) == 1.5  # marks are half points, rounded down


def test_a_profile_file_extends_a_builtin_and_overrides_what_it_names(tmp_path: Path) -> None:
    path = tmp_path / "acme.yaml"
    path.write_text(
        "extends: strict\n"
        "sections: {pipelines: {min: 1}, review: {min: '50%'}}\n"
        "checks: {reliability.degraded: {required: false}, review.sla: {enabled: false}}\n"
        "load: {target_concurrency: 32, slos: 'p99_ms=800,error_rate=0.001'}\n"
        "extra_checks:\n"
        "  - {id: acme.tracing-on, section: observability, title: Tracing forced on, kind: config,"
        " key: observe.tracing.enabled, equals: 'on'}\n"
    )
    profile = load_profile(str(path))
    assert profile.name == "acme" and profile.required_by_default
    assert not profile.required("reliability.degraded") and profile.required("reliability.fallbacks")
    assert profile.minimum("pipelines", 2) == 1 and profile.minimum("review", 2) == 1 and profile.minimum("load", 4) == 4
    assert profile.load.target_concurrency == 32 and profile.load.runs_dir == ".headway/loadtests"
    ids = [c.id for c in checks_for(profile)]
    assert "review.sla" not in ids and ids[-1] == "acme.tracing-on"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("extends: lenient\n", "extends must be one of strict, standard"),
        ("checks: {reliability.timeout: {required: true}}\n", "unknown check 'reliability.timeout'"),
        ("sections: {load: {min: lots}}\n", "a number of points or a percentage"),
        ("load: {slos: 'p95=2'}\n", "unknown SLO key"),
        ("extra_checks: [{id: security.auth, section: security, title: t, kind: http, path: /}]\n", "already taken"),
        ("extra_checks: [{id: x.y, section: security, title: t, kind: request_ratio, match: {status: error}}]\n", "needs 'min' or 'max'"),
        ("tolerance: high\n", "Extra inputs are not permitted"),
    ],
)
def test_a_bad_profile_is_refused_with_the_reason(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(body)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        checks_for(load_profile(str(path)))


def test_an_unknown_profile_name_says_what_exists() -> None:
    with pytest.raises(ConfigError, match="give strict, standard or a profile file"):
        load_profile("production-ish")


def test_parse_profile_refuses_a_non_mapping() -> None:
    with pytest.raises(ConfigError, match="must be a mapping"):
        parse_profile(["strict"], source="list.yaml")
