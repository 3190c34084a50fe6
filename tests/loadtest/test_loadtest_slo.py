"""SLO parsing names the offending key; evaluation holds an SLO to every step."""

from __future__ import annotations

from pathlib import Path

import pytest

import headway.loadtest
from headway.errors import ConfigError
from headway.loadtest import METRICS, LoadReport, Slo, evaluate_slos, parse_slo
from headway.loadtest.recorder import StepRecorder
from headway.loadtest.report import StepReport, summarise_step


def make_step(label: str, latencies_s: list[float], *, errors: int = 0, elapsed_s: float = 1.0) -> StepReport:
    recorder = StepRecorder()
    for latency in latencies_s:
        recorder.latencies.append(latency)
        recorder.ok += 1
        recorder.completed += 1
    for _ in range(errors):
        recorder.error("http_500", "boom")
    recorder.sent = recorder.completed
    return summarise_step(
        recorder, label=label, mode="closed", concurrency=1, rate=None, arrival=None, elapsed_s=elapsed_s
    )


def make_report(*steps: StepReport) -> LoadReport:
    return LoadReport(started_at=0.0, finished_at=1.0, config={}, steps=list(steps))


def test_parse_reads_every_key_with_its_direction() -> None:
    slos = parse_slo(" p99_ms=2000, error_rate=0.01,ttft_p95_ms=500 ,throughput_rps=100")
    assert slos == [
        Slo("p99_ms", 2000),
        Slo("error_rate", 0.01),
        Slo("ttft_p95_ms", 500),
        Slo("throughput_rps", 100),
    ]
    assert [slo.direction for slo in slos] == ["<=", "<=", "<=", ">="]


def test_empty_text_is_no_slos() -> None:
    assert parse_slo("") == []


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("p98_ms=10", "'p98_ms'"),
        ("p99_ms=fast", "'p99_ms'"),
        ("error_rate=5", "'error_rate'"),
        ("p99_ms=-1", "'p99_ms'"),
        ("p99_ms=10,p99_ms=20", "'p99_ms'"),
        ("p99_ms", "'p99_ms'"),
    ],
)
def test_bad_input_names_the_key(text: str, named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_slo(text)
    assert named in str(caught.value)
    assert "--slo" in str(caught.value)


def test_unknown_key_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"known keys: .*throughput_rps"):
        parse_slo("latency=1")


def test_latency_slo_passes_and_fails_on_p99() -> None:
    step = make_step("c=1", [i / 1000 for i in range(1, 101)])  # 1..100 ms, p99 = 99 ms
    passing, failing = evaluate_slos(make_report(step), parse_slo("p99_ms=99,p50_ms=49"))
    assert passing.passed and passing.worst == pytest.approx(99.0)
    assert not failing.passed and failing.worst == pytest.approx(50.0)
    assert failing.failed_steps == ["c=1"]


def test_throughput_slo_is_a_floor_and_error_rate_a_ceiling() -> None:
    report = make_report(make_step("c=1", [0.01] * 90, errors=10, elapsed_s=2.0))  # 100 finished in 2 s
    results = {
        r.key: r for r in evaluate_slos(report, parse_slo("throughput_rps=50,ok_rps=46,error_rate=0.1"))
    }
    assert results["throughput_rps"].passed and results["throughput_rps"].worst == pytest.approx(50.0)
    assert not results["ok_rps"].passed and results["ok_rps"].worst == pytest.approx(45.0)
    assert results["error_rate"].passed and results["error_rate"].worst == pytest.approx(0.1)
    [stricter] = evaluate_slos(report, parse_slo("error_rate=0.09"))
    assert not stricter.passed


def test_an_slo_must_hold_at_every_step() -> None:
    fast = make_step("c=1", [0.010] * 10)
    slow = make_step("c=50", [0.300] * 10)
    [result] = evaluate_slos(make_report(fast, slow), parse_slo("p95_ms=100"))
    assert not result.passed
    assert result.failed_steps == ["c=50"]
    assert result.values == [pytest.approx(10.0), pytest.approx(300.0)]
    assert result.worst == pytest.approx(300.0)


def test_a_metric_that_was_not_measured_fails() -> None:
    step = make_step("c=1", [0.01] * 10)  # not streaming: no time to first token
    [result] = evaluate_slos(make_report(step), parse_slo("ttft_p95_ms=500"))
    assert not result.passed
    assert result.values == [None]
    assert result.worst is None


def test_report_passes_only_when_every_slo_passes() -> None:
    report = make_report(make_step("c=1", [0.01] * 10))
    report.slo_results = evaluate_slos(report, parse_slo("p99_ms=20"))
    assert report.passed
    report.slo_results = evaluate_slos(report, parse_slo("p99_ms=20,p50_ms=5"))
    assert not report.passed


def test_every_slo_key_is_documented_with_its_direction() -> None:
    readme = (Path(headway.loadtest.__file__).parent / "README.md").read_text(encoding="utf-8")
    for key, metric in METRICS.items():
        row = next(
            (line for line in readme.splitlines() if f"`{key}`" in line and line.startswith("|")), None
        )
        assert row is not None, f"{key} is not in the README's SLO table"
        assert f"value {metric.direction} threshold" in row
