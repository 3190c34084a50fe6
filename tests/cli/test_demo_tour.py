"""``headway demo`` walked as a newcomer would: the banner's commands work as printed.

The demo runs as a real process (simulator and gateway on loopback, its database in a
temporary folder). The test reads the banner, then: runs the printed one-line command
that makes the primary fail and sees the fallback answer; finds the held request in the
reviewer's queue (API and console page, logged in with the printed reviewer key); opens
the console as the operator; finds the stored gate report the banner summarised; and
checks the terminal stayed quiet (the JSON log lines went to the log file).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import openai
import pytest

from headway.testing import free_port
from tests.http import request

HEADWAY = [sys.executable, "-m", "headway"]
BANNER_END = "Ctrl-C stops both."


@dataclass
class Demo:
    proc: subprocess.Popen[str]
    url: str
    sim_port: int
    lines: list[str]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def key(self, role: str) -> str:
        found = re.search(rf"^\s*(?:Keys\s+)?{role}\s+(hw_live_\S+)$", self.text, re.M)
        assert found, f"no {role} key in the banner:\n{self.text}"
        return found.group(1)

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGINT)
        rest, _ = self.proc.communicate(timeout=30)
        return self.text + "\n" + rest


def start_demo(cwd: Path, timeout: float = 120.0) -> Demo:
    """Start ``headway demo`` and read its output until the banner has been printed."""
    port, sim_port = free_port(), free_port()
    proc = subprocess.Popen(
        [*HEADWAY, "demo", "--port", str(port), "--sim-port", str(sim_port)],
        cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "COLUMNS": "100", "HEADWAY_ADMIN_KEY": "", "HEADWAY_AUDIT_SECRET": ""},
    )
    lines: list[str] = []
    done = threading.Event()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if BANNER_END in line:
                done.set()
                return
        done.set()

    threading.Thread(target=read, daemon=True).start()
    if not done.wait(timeout) or not any(BANNER_END in line for line in lines):
        proc.kill()
        raise AssertionError("the demo printed no banner:\n" + "\n".join(lines))
    return Demo(proc, f"http://127.0.0.1:{port}", sim_port, lines)


def _port_closed(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.slow
def test_demo_tour(tmp_path: Path) -> None:
    demo = start_demo(tmp_path)
    try:
        url = demo.url
        app_key, reviewer_key, operator_key = demo.key("app"), demo.key("reviewer"), demo.key("operator")
        assert len({app_key, reviewer_key, operator_key}) == 3
        assert f"{url}/console/" in demo.text and "note:" not in demo.text, demo.text

        # Auth is on: no key, no answer; the app key answers.
        assert request("GET", url + "/v1/models").status == 401
        client = openai.OpenAI(base_url=url + "/v1", api_key=app_key, max_retries=0)
        reply = client.chat.completions.with_raw_response.create(
            model="chat-default", messages=[{"role": "user", "content": "Hello demo"}]
        )
        assert "Hello demo" in (reply.parse().choices[0].message.content or "")
        assert reply.headers["x-headway-served-by"] == "primary"

        # The one-line command, run as printed: the primary fails, the fallback answers.
        [command] = [line.strip() for line in demo.lines if line.strip().startswith("curl -s -o /dev/null")]
        shown = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60)
        assert shown.returncode == 0, shown.stderr
        assert "x-headway-served-by: fallback:claude" in shown.stdout.lower(), shown.stdout
        assert "Simulated reply to: Hello" in shown.stdout
        # And when every model fails, the degraded message answers (a 200, not a 502).
        degraded = client.chat.completions.with_raw_response.create(
            model="chat-default", messages=[{"role": "user", "content": "all down [sim:fault=500]"}]
        )
        assert degraded.http_response.status_code == 200 and degraded.headers["x-headway-served-by"] == "degraded"

        # The held request waits in the reviewer's queue: over the API and on the console page.
        held = re.search(r"request (req_\w+) is held: (\S+/console/reviews/(rev_\w+))", demo.text)
        assert held, demo.text
        request_id, review_url, review_id = held.groups()
        queue = request("GET", url + "/admin/reviews", headers={"authorization": f"Bearer {reviewer_key}"}).json()
        [item] = [i for i in queue["data"] if i["id"] == review_id]
        assert item["request_id"] == request_id and item["status"] == "pending" and item["policy"] == "decisions"
        login = request(
            "POST", url + "/console/login", f"api_key={reviewer_key}&next=/console/reviews".encode(),
            {"content-type": "application/x-www-form-urlencoded"},
        )
        assert login.status == 303
        cookie = login.headers["set-cookie"].split(";")[0]
        page = request("GET", url + "/console/reviews", headers={"cookie": cookie})
        assert page.status == 200 and review_id in page.body.decode()
        assert request("GET", review_url, headers={"cookie": cookie}).status == 200

        # The console: / leads there; the operator sees the dashboard with this traffic.
        home = request("GET", url + "/")
        assert home.status == 200 and 'url=/console/' in home.body.decode()
        login = request(
            "POST", url + "/console/login", f"api_key={operator_key}&next=/console/".encode(),
            {"content-type": "application/x-www-form-urlencoded"},
        )
        cookie = login.headers["set-cookie"].split(";")[0]
        deadline = time.monotonic() + 15  # records reach the store off the hot path
        while True:
            board = request("GET", url + "/console/api/dashboard?window=1h", headers={"cookie": cookie}).json()
            if board["totals"]["paths"]["degraded"] >= 1 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert board["totals"]["paths"]["fallback"] >= 1 and board["totals"]["paths"]["degraded"] >= 1
        assert board["pipeline_runs"].get("ok") == 1 and board["retrieval"]["outcomes"].get("hit", 0) >= 1
        assert board["reviews"].get("pending", 0) >= 1
        assert {a["rule"] for a in board["signals"]["alerts"]} >= {"fallback-rate", "breaker-open", "review-backlog"}

        # Another terminal: the CLI reads the same config after sourcing the printed env file.
        [source] = re.findall(r"(set -a; \. \./\S+; set \+a)", demo.text)
        config = re.search(r"headway requests --config (\S+)", demo.text)
        assert config, demo.text
        clean = {k: v for k, v in os.environ.items() if not k.startswith("HEADWAY_")} | {"COLUMNS": "80"}
        listed = subprocess.run(
            ["bash", "-c", f"{source}; {sys.executable} -m headway requests --config {config.group(1)}"],
            cwd=tmp_path, env=clean, capture_output=True, text=True, timeout=60,
        )
        assert listed.returncode == 0, listed.stderr
        assert request_id in listed.stdout and all(len(line) <= 80 for line in listed.stdout.splitlines()), listed.stdout
        assert oct((tmp_path / ".headway" / "demo.env").stat().st_mode & 0o777) == "0o600"

        # The gate ran: the banner summarises it and the report is stored in the deployment.
        gate = re.search(r"^Gate\s+headway gate: (\S+) \(score", demo.text, re.M)
        assert gate, demo.text
        reports = request("GET", url + "/admin/gate/reports", headers={"authorization": f"Bearer {operator_key}"}).json()
        assert reports["data"], reports
        assert any(line.strip().startswith(("fail:", "warn:", "unknown:")) for line in demo.lines) or gate.group(1) == "pass"
    finally:
        output = demo.stop()
    assert demo.proc.returncode in (0, 130), output
    # Quiet: no JSON log line in the terminal; they are in the log file, one per request.
    assert not [line for line in output.splitlines() if line.startswith("{")], output
    assert "Traceback" not in output and "it/s]" not in output, output  # no tracebacks on Ctrl-C, no progress bars
    assert output.rstrip().endswith("headway demo: stopped"), output
    log = (tmp_path / ".headway" / "demo.log").read_text()
    assert '"event":"request"' in log.replace(" ", "")
    assert _port_closed(int(demo.url.rsplit(":", 1)[1])) and _port_closed(demo.sim_port)
    assert (tmp_path / ".headway" / "demo.db").exists()
    json.loads(next(line for line in log.splitlines() if line.startswith("{")))
