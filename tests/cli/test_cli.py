"""The ``headway`` command: clear messages on bad input, and the demo's full lifecycle."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import openai
import pytest
from typer.testing import CliRunner

from headway.cli.main import app
from headway.store import open_store
from headway.testing import free_port
from headway.types import Attempt, RequestRecord

runner = CliRunner()
HEADWAY = [sys.executable, "-m", "headway"]


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "headway.yaml"
    path.write_text(text)
    return path


GOOD = """
auth: {mode: none}
store: sqlite:///{db}
providers:
  p: {type: openai, base_url: "http://127.0.0.1:9/v1", api_key: "${KEY:-k}"}
models:
  m: {deployments: [{provider: p, model: gpt-4o-mini}]}
"""


def test_config_check_ok(tmp_path: Path) -> None:
    path = write_config(tmp_path, GOOD.replace("{db}", str(tmp_path / "h.db")))
    result = runner.invoke(app, ["config", "check", str(path)])
    assert result.exit_code == 0, result.output
    assert "1 providers, 1 models" in result.output


def test_config_check_error_is_one_clear_line(tmp_path: Path) -> None:
    path = write_config(tmp_path, GOOD.replace("{db}", str(tmp_path / "h.db")).replace("gpt-4o-mini}", "gpt-4o-mini, wieght: 2}"))
    result = runner.invoke(app, ["config", "check", str(path)])
    assert result.exit_code == 2
    assert "models.m.deployments.0.wieght" in result.output and "unknown key" in result.output
    assert "Traceback" not in result.output


def test_config_check_missing_file() -> None:
    result = runner.invoke(app, ["config", "check", "/nonexistent/h.yaml"])
    assert result.exit_code == 2 and "file not found" in result.output


def test_config_schema_is_json_schema() -> None:
    result = runner.invoke(app, ["config", "schema"])
    schema = json.loads(result.output)
    assert {"server", "store", "providers", "models"} <= set(schema["properties"])


def test_requests_json_lists_the_log(tmp_path: Path) -> None:
    db = tmp_path / "h.db"
    path = write_config(tmp_path, GOOD.replace("{db}", str(db)))
    store = open_store(f"sqlite:///{db}")
    store.migrate()
    store.write_requests(
        [
            RequestRecord(request_id=f"req_{i}", endpoint="chat.completions", model="m", status_code=200, created_at=1000.0 + i,
                          attempts=[Attempt("p/gpt-4o-mini", "p", "gpt-4o-mini", "ok", 1.5, 200)])
            for i in range(3)
        ]
    )
    result = runner.invoke(app, ["requests", "--config", str(path), "--json", "--limit", "2"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [r["request_id"] for r in lines] == ["req_2", "req_1"]
    table = runner.invoke(app, ["requests", "--config", str(path)], env={"COLUMNS": "250"})
    assert "req_0" in table.output and "p/gpt-4o-mini:ok" in table.output


def _wait_http(url: str, timeout: float = 30) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} never answered")


def _port_closed(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.slow
def test_demo_answers_then_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    from tests.cli.test_demo_tour import start_demo

    demo = start_demo(tmp_path)
    port = int(demo.url.rsplit(":", 1)[1])
    try:
        # Auth is on in the demo: the printed app key answers, a made-up one does not.
        client = openai.OpenAI(base_url=demo.url + "/v1", api_key=demo.key("app"), max_retries=0)
        reply = client.chat.completions.create(model="chat-default", messages=[{"role": "user", "content": "Hello demo"}])
        assert "Hello demo" in (reply.choices[0].message.content or "")
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=demo.url + "/v1", api_key="demo", max_retries=0).models.list()
    finally:
        output = demo.stop()
    assert demo.proc.returncode in (0, 130), output
    assert f"http://127.0.0.1:{port}" in output and "curl" in output and "base_url" in output
    assert "[sim:fault=500]" in output
    assert _port_closed(port) and _port_closed(demo.sim_port)
    assert (tmp_path / ".headway" / "demo.db").exists()


def test_sim_command_serves_and_stops(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen([*HEADWAY, "sim", "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait_http(f"http://127.0.0.1:{port}/v1/models")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)
    assert _port_closed(port)


def test_sim_with_a_bad_scenario_file_says_why(tmp_path: Path) -> None:
    bad = tmp_path / "s.yaml"
    bad.write_text("faults: {rates: {\"999\": 2}}\n")
    result = runner.invoke(app, ["sim", "--scenario", str(bad)])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_serve_with_two_workers_records_every_request(tmp_path: Path, sim: object) -> None:
    db = tmp_path / "h.db"
    config = write_config(
        tmp_path,
        f"""
auth: {{mode: none}}
store: sqlite:///{db}
request_log: {{flush_interval_ms: 50, spill_dir: {tmp_path}/spill}}
providers:
  sim: {{type: openai, base_url: "{sim.url}/v1"}}
models:
  chat: {{deployments: [{{provider: sim, model: gpt-4o-mini}}], price: {{input: 1, output: 2}}}}
""",  # type: ignore[attr-defined]
    )
    port = free_port()
    proc = subprocess.Popen(
        [*HEADWAY, "serve", "--config", str(config), "--port", str(port), "--workers", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    try:
        _wait_http(f"http://127.0.0.1:{port}/readyz")
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="k", max_retries=0)
        ids = {
            client.chat.completions.with_raw_response.create(model="chat", messages=[{"role": "user", "content": f"n{i}"}]).headers["x-request-id"]
            for i in range(20)
        }
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # graceful: each worker flushes its buffer on the way out
        proc.communicate(timeout=30)
    store = open_store(f"sqlite:///{db}")
    from headway.store import RequestQuery

    assert {r.request_id for r in store.list_requests(RequestQuery(limit=100))} == ids
