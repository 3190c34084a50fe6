"""``load_command``: options to exit code, with the JSON run, the chart and the summary written."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from loadtest_target import LoadTarget
from rich.console import Console

from headway.errors import ConfigError
from headway.loadtest import latest_run, load_command
from headway.loadtest.command import parse_float_list, parse_headers, parse_int_list


def run(target: LoadTarget, tmp_path: Path, **options: object) -> tuple[int, str]:
    buffer = io.StringIO()
    console = Console(file=buffer, width=200)
    code = load_command(base_url=target.base_url, out=tmp_path, quiet=True, console=console, **options)  # type: ignore[arg-type]
    return code, buffer.getvalue()


def test_a_run_within_its_slos_exits_zero_and_saves_json_and_html(
    threaded_target: LoadTarget, tmp_path: Path
) -> None:
    code, printed = run(threaded_target, tmp_path, concurrency="1,2", requests=10, slo="error_rate=0")
    assert code == 0
    assert threaded_target.state.received == 20
    report = latest_run(tmp_path)
    assert report is not None and [step.sent for step in report.steps] == [10, 10]
    [json_file] = tmp_path.glob("loadtest-*.json")
    assert json_file.with_suffix(".html").read_text(encoding="utf-8").count("<svg") == 2
    assert "concurrency=2" in printed and "PASS error_rate <= 0" in printed


def test_a_breached_slo_exits_one_and_says_where(threaded_target: LoadTarget, tmp_path: Path) -> None:
    threaded_target.state.pattern = ["ok", "500"]
    code, printed = run(threaded_target, tmp_path, rate="100", duration=0.1, slo="error_rate=0.1")
    assert code == 1
    assert "FAIL error_rate <= 0.1 (worst 0.5) at rate=100/s" in printed
    assert "http_500 5" in printed


def test_headers_and_key_reach_the_target(threaded_target: LoadTarget, tmp_path: Path) -> None:
    code, _ = run(threaded_target, tmp_path, requests=2, api_key="sk-test", header=["X-Team: search"])
    assert code == 0
    assert [h["Authorization"] for h in threaded_target.state.headers] == ["Bearer sk-test"] * 2
    assert [h["X-Team"] for h in threaded_target.state.headers] == ["search"] * 2
    report = latest_run(tmp_path)
    assert report is not None and "sk-test" not in str(report.to_dict())


def test_list_and_header_parsing() -> None:
    assert parse_int_list("1, 10,50", "--concurrency") == (1, 10, 50)
    assert parse_float_list("100,250.5", "--rate") == (100.0, 250.5)
    assert parse_headers(["X-Team: search", "X-Empty:"]) == {"X-Team": "search", "X-Empty": ""}
    with pytest.raises(ConfigError, match="--concurrency"):
        parse_int_list("1,ten", "--concurrency")
    with pytest.raises(ConfigError, match="--rate"):
        parse_float_list("fast", "--rate")
    with pytest.raises(ConfigError, match="--header"):
        parse_headers(["no-colon"])


def test_invalid_options_raise_before_any_request(threaded_target: LoadTarget, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--slo"):
        run(threaded_target, tmp_path, requests=1, slo="p99=1")
    assert threaded_target.state.received == 0
    assert list(tmp_path.iterdir()) == []
