"""``headway load`` from the command line, against the simulator directly and against Headway."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from headway.loadtest import latest_run
from headway.store import RequestQuery
from headway.testing import GatewayThread


def headway_load(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "headway", "load", "--quiet", *args], capture_output=True, text=True, timeout=120)


def test_load_against_the_simulator_saves_a_run_the_gate_can_read(sim: Any, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    done = headway_load("--base-url", f"{sim.url}/v1", "-c", "2,4", "-n", "40", "--slo", "error_rate=0", "--out", str(runs))
    assert done.returncode == 0, done.stderr
    assert "PASS error_rate <= 0" in done.stdout
    report = latest_run(runs)
    assert report is not None and report.passed
    assert [(s.label, s.ok) for s in report.steps] == [("concurrency=2", 40), ("concurrency=4", 40)]
    assert list(runs.glob("*.html"))


def test_load_against_headway_streams_and_every_request_is_on_record(make_config: Any, tmp_path: Path) -> None:
    with GatewayThread(make_config()) as gw:
        done = headway_load(
            "--base-url", f"{gw.url}/v1", "--model", "chat", "--stream", "-c", "3", "-n", "30", "--out", str(tmp_path),
        )
        assert done.returncode == 0, done.stderr
        report = latest_run(tmp_path)
        assert report is not None
        step = report.steps[0]
        assert step.ok == 30 and step.ttft_ms is not None and step.error_rate == 0
        gw.flush()
        streamed = [r for r in gw.runtime.store.list_requests(RequestQuery(limit=100)) if r.stream]
        assert len(streamed) == 30


def test_a_breached_slo_exits_1_and_bad_options_exit_2(sim: Any, tmp_path: Path) -> None:
    breached = headway_load("--base-url", f"{sim.url}/v1", "-n", "5", "--slo", "p50_ms=0", "--out", str(tmp_path))
    assert breached.returncode == 1 and "FAIL p50_ms" in breached.stdout
    invalid = headway_load("--base-url", f"{sim.url}/v1", "-n", "5", "--slo", "p42_ms=1", "--out", str(tmp_path))
    assert invalid.returncode == 2 and "unknown SLO key" in invalid.stderr
