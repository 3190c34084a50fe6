"""``headway cost`` and ``headway feedback export`` against a store with known records."""

from __future__ import annotations

import json
import time
from pathlib import Path

from typer.testing import CliRunner

from headway.cli.main import app
from headway.observe.feedback import FeedbackStore, parse_feedback
from headway.store.sql import SqlStore
from headway.types import RequestRecord


def _store(tmp_path: Path) -> Path:
    db = tmp_path / "cli.db"
    store = SqlStore(f"sqlite:///{db}")
    store.migrate()
    now = time.time()
    store.write_requests(
        [
            RequestRecord(request_id="a1", endpoint="chat.completions", model="chat", caller="key-a", team="red", created_at=now - 60,
                          input_tokens=100, output_tokens=10, cost_usd=0.001),
            RequestRecord(request_id="a2", endpoint="chat.completions", model="chat", caller="key-a", team="red", created_at=now - 30,
                          input_tokens=50, output_tokens=5, cost_usd=0.0005),
            RequestRecord(request_id="b1", endpoint="chat.completions", model="big", caller="key-b", team="blue", created_at=now - 10,
                          input_tokens=10, output_tokens=10, cost_usd=0.02),
            RequestRecord(request_id="old", endpoint="chat.completions", model="chat", caller="key-a", team="red",
                          created_at=now - 40 * 86400, cost_usd=5.0),
        ]
    )
    FeedbackStore(store.database).add(parse_feedback({"request_id": "a2", "label": "good", "comment": "nice"}, caller="key-a"))
    FeedbackStore(store.database).add(parse_feedback({"request_id": "b1", "score": -1}, caller="key-b"))
    store.close()
    config = tmp_path / "headway.yaml"
    config.write_text(f"store: sqlite:///{db}\nauth: {{mode: none}}\n")
    return config


def test_cost_per_team_and_caller_as_json(tmp_path: Path) -> None:
    config = _store(tmp_path)
    runner = CliRunner()
    by_team = runner.invoke(app, ["cost", "-c", str(config), "--group-by", "team", "--json"])
    assert by_team.exit_code == 0, by_team.output
    report = json.loads(by_team.stdout)
    # The 40-day-old record is outside the default 30 days.
    assert {row["team"]: round(row["cost_usd"], 9) for row in report["data"]} == {"blue": 0.02, "red": 0.0015}
    assert report["total"]["requests"] == 3
    everything = json.loads(runner.invoke(app, ["cost", "-c", str(config), "--since", "365d", "--json"]).stdout)
    assert {row["caller"]: row["requests"] for row in everything["data"]} == {"key-a": 3, "key-b": 1}
    table = runner.invoke(app, ["cost", "-c", str(config), "-g", "model"])
    assert table.exit_code == 0 and "big" in table.stdout and "0.020000" in table.stdout
    bad = runner.invoke(app, ["cost", "-c", str(config), "-g", "planet"])
    assert bad.exit_code == 2


def test_feedback_export_to_a_file(tmp_path: Path) -> None:
    config = _store(tmp_path)
    out = tmp_path / "dataset.jsonl"
    result = CliRunner().invoke(app, ["feedback", "export", "-c", str(config), "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(line["request_id"], line["label"], line["score"]) for line in lines] == [("a2", "good", None), ("b1", None, -1.0)]
    assert lines[0]["caller"] == "key-a" and lines[0]["comment"] == "nice"
    assert lines[1]["request"]["model"] == "big"
    only_good = CliRunner().invoke(app, ["feedback", "export", "-c", str(config), "--label", "good"])
    assert [json.loads(line)["request_id"] for line in only_good.stdout.splitlines()] == ["a2"]
