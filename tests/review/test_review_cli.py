"""``headway review list|show|claim|decide`` against the store a running gateway uses."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from headway.cli.main import app
from headway.config.loader import parse_config
from headway.testing import GatewayThread
from tests.conftest import base_config
from tests.http import request
from tests.review.conftest import eventually, hold, item, review_section

runner = CliRunner()


def test_a_decision_from_the_cli_reaches_the_waiting_caller(sim: Any, tmp_path: Path) -> None:
    raw = base_config(sim.url, f"sqlite:///{tmp_path}/headway.db", tmp_path / "spill", review=review_section())
    path = tmp_path / "headway.yaml"
    path.write_text(yaml.safe_dump(raw))
    with GatewayThread(parse_config(raw)) as gw, ThreadPoolExecutor(1) as pool:
        review_id, _ = hold(gw, "decide me from a terminal")
        listed = runner.invoke(app, ["review", "list", "-c", str(path), "--json"])
        assert listed.exit_code == 0, listed.output
        assert [json.loads(line)["id"] for line in listed.output.splitlines()] == [review_id]

        shown = runner.invoke(app, ["review", "show", review_id, "-c", str(path)])
        assert shown.exit_code == 0 and "decide me from a terminal" in shown.output and "pending" in shown.output

        anonymous = runner.invoke(app, ["review", "claim", review_id, "-c", str(path)], env={"HEADWAY_API_KEY": ""})
        assert anonymous.exit_code != 0 and "HEADWAY_API_KEY" in anonymous.output  # never the machine's login
        created = runner.invoke(app, ["keys", "create", "--principal", "ana@risk", "--role", "reviewer", "--team", "risk",
                                      "--kind", "user", "-c", str(path), "--json"])
        assert created.exit_code == 0, created.output
        ana = {"HEADWAY_API_KEY": json.loads(created.output)["key"]}
        wrong = runner.invoke(app, ["review", "claim", review_id, "-c", str(path), "--key", "hw-not-a-key"])
        assert wrong.exit_code != 0 and item(gw, review_id)["status"] == "pending"

        claimed = runner.invoke(app, ["review", "claim", review_id, "-c", str(path)], env=ana)
        assert claimed.exit_code == 0, claimed.output
        assert item(gw, review_id)["claimed_by"] == "ana@risk"

        waiting = pool.submit(request, "GET", f"{gw.url}/v1/reviews/{review_id}", None, {"prefer": "wait=20"})
        eventually(lambda: gw.runtime.review is not None and gw.runtime.review.waiters.stats.waiting, what="the waiter")
        decided = runner.invoke(app, ["review", "decide", review_id, "edit", "-c", str(path), "--output", "from the cli",
                                      "--comment", "terminal"], env=ana)
        assert decided.exit_code == 0, decided.output
        released = waiting.result(timeout=30)
        assert released.status == 200 and released.json()["choices"][0]["message"]["content"] == "from the cli"
        decided_item = item(gw, review_id)
        assert decided_item["decided_by"] == "ana@risk"
        assert {e["actor"] for e in decided_item["events"] if e["to"] in ("claimed", "edited")} == {"ana@risk"}

        again = runner.invoke(app, ["review", "decide", review_id, "approve", "-c", str(path)], env=ana)
        assert again.exit_code == 2 and "already decided" in again.output
        bad = runner.invoke(app, ["review", "decide", review_id, "maybe", "-c", str(path)], env=ana)
        assert bad.exit_code == 2 and "approve, edit, reject" in bad.output
