"""Reports round-trip through JSON, render to self-contained HTML, and are stored newest-last."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import orjson
import pytest
from loadtest_target import LoadTarget

from headway.errors import HeadwayError
from headway.loadtest import LoadConfig, LoadReport, latest_run, parse_slo, run_load, save_run, write_html


@pytest.fixture
async def report(target: LoadTarget) -> LoadReport:
    target.state.pattern = ["ok", "ok", "ok", "429"]
    options = LoadConfig(
        base_url=target.base_url,
        concurrency=(1, 3),
        requests=12,
        stream=True,
        price_input=1.0,
        price_output=2.0,
        slos=tuple(parse_slo("p99_ms=60000,error_rate=0.01")),
    )
    return await run_load(options)


async def test_json_report_round_trips(report: LoadReport) -> None:
    data = orjson.loads(orjson.dumps(report.to_dict()))
    again = LoadReport.from_dict(data)
    assert again == report
    assert again.to_dict() == report.to_dict()
    assert data["schema_version"] == 1
    assert data["steps"][0]["errors"] == {"http_429": 3}
    assert data["passed"] is False


async def test_reading_another_schema_version_is_refused(report: LoadReport) -> None:
    data = report.to_dict() | {"schema_version": 99}
    with pytest.raises(HeadwayError, match="schema_version 99"):
        LoadReport.from_dict(data)


async def test_html_is_self_contained_and_carries_the_step_data(report: LoadReport, tmp_path: Path) -> None:
    path = write_html(report, tmp_path / "out" / "report.html")
    page = path.read_text(encoding="utf-8")
    assert page.count("<svg") == 3  # latency, throughput, time to first token
    assert "concurrency=1" in page and "concurrency=3" in page
    assert "p99_ms" in page and "FAIL" in page
    assert not re.search(r"\bsrc=|\bhref=|<link|@import|url\(", page)  # nothing is fetched from anywhere
    embedded = re.search(
        r'<script type="application/json" id="headway-loadtest-report">(.*?)</script>', page, re.S
    )
    assert embedded is not None
    data = json.loads(embedded.group(1))
    assert [step["label"] for step in data["steps"]] == ["concurrency=1", "concurrency=3"]
    assert data["steps"][1]["latency_ms"]["p99"] == report.steps[1].latency_ms.p99  # type: ignore[union-attr]


async def test_latest_run_picks_the_newest(report: LoadReport, tmp_path: Path) -> None:
    newer = dataclasses.replace(report, finished_at=report.finished_at + 60)
    older = dataclasses.replace(report, finished_at=report.finished_at - 60, config={"tag": "older"})
    newest_path = save_run(newer, tmp_path)
    save_run(older, tmp_path)  # written last, but finished first
    assert newest_path.name.startswith("loadtest-") and newest_path.suffix == ".json"
    latest = latest_run(tmp_path)
    assert latest is not None
    assert latest.finished_at == newer.finished_at


async def test_runs_finishing_in_the_same_instant_keep_both_files(report: LoadReport, tmp_path: Path) -> None:
    first = save_run(report, tmp_path)
    second = save_run(dataclasses.replace(report, config={"tag": "second"}), tmp_path)
    assert first != second
    latest = latest_run(tmp_path)
    assert latest is not None and latest.config == {"tag": "second"}


def test_no_runs_means_none(tmp_path: Path) -> None:
    assert latest_run(tmp_path) is None
    assert latest_run(tmp_path / "missing") is None
