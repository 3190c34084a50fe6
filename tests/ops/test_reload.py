"""Config reload without dropping a request, and drain on SIGTERM, on a real ``headway serve`` process.

Traffic goes only to 127.0.0.1 (the gateway and the simulator), bounded in count and time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml

from headway.testing import free_port

from ..conftest import base_config
from ..http import Reply, post_json, request

ADMIN_KEY = "bootstrap-key-for-reload-tests-0123456789"
CHAT = {"model": "chat", "messages": [{"role": "user", "content": "hello"}]}


def admin() -> dict[str, str]:
    return {"authorization": f"Bearer {ADMIN_KEY}"}


def write_config(path: Path, sim_url: str, store_url: str, **sections: Any) -> Path:
    config = base_config(sim_url, store_url, path.parent / "spill", **sections)
    config["auth"] = {"mode": "required", "bootstrap_admin_key": "${HW_TEST_RELOAD_ADMIN}",
                      "audit": {"chain_secret": "${HW_TEST_RELOAD_CHAIN:-chain-secret-for-reload-tests-0123456789}"}}
    path.write_text(yaml.safe_dump(config))
    return path


@dataclass
class Served:
    proc: subprocess.Popen[str]
    url: str
    log: Path
    lines: list[str] = field(default_factory=list)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    started: list[Served] = []

    def start(config: Path, *extra: str) -> Served:
        port = free_port()
        log = tmp_path / f"serve-{port}.log"
        env = {**os.environ, "HW_TEST_RELOAD_ADMIN": ADMIN_KEY}
        with log.open("w") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "headway", "serve", "--config", str(config), "--port", str(port), *extra],
                stdout=out, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True,
            )
        served = Served(proc, f"http://127.0.0.1:{port}", log)
        started.append(served)
        deadline = time.monotonic() + 60
        while True:
            try:
                if request("GET", served.url + "/readyz", timeout=2).status == 200:
                    return served
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"headway serve did not become ready:\n{served.output()[-3000:]}")
            time.sleep(0.1)

    yield start
    for served in started:
        if served.proc.poll() is None:
            os.killpg(served.proc.pid, signal.SIGKILL)
            served.proc.wait(timeout=10)


def chat(url: str, model: str = "chat", content: str = "hello", **headers: str) -> Reply:
    return post_json(url + "/v1/chat/completions", {"model": model, "messages": [{"role": "user", "content": content}]},
                     {**admin(), **headers})


def open_streams(url: str, count: int, itl_ms: int) -> tuple[list[threading.Thread], list[dict[str, Any]]]:
    """``count`` slow streams, each recording its chunks, how it finished and any error."""
    results: list[dict[str, Any]] = []

    def one(index: int) -> None:
        outcome: dict[str, Any] = {"chunks": 0, "finish": None, "error": None, "opened": time.monotonic()}
        results.append(outcome)
        client = openai.OpenAI(base_url=url + "/v1", api_key=ADMIN_KEY, max_retries=0, timeout=60)
        try:
            stream = client.chat.completions.create(
                model="chat", stream=True,
                messages=[{"role": "user", "content": f"[sim:itl_ms={itl_ms}] stream {index} tell me a long story"}],
            )
            for chunk in stream:
                outcome["chunks"] += 1
                if chunk.choices and chunk.choices[0].finish_reason:
                    outcome["finish"] = chunk.choices[0].finish_reason
        except Exception as exc:  # recorded, asserted on below
            outcome["error"] = repr(exc)
        outcome["closed"] = time.monotonic()

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    return threads, results


def steady_load(url: str, stop: threading.Event, most: int = 300) -> tuple[threading.Thread, list[int]]:
    """Sequential small calls until ``stop`` (at most ``most``): the status of each."""
    statuses: list[int] = []

    def run() -> None:
        while not stop.is_set() and len(statuses) < most:
            statuses.append(chat(url).status)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, statuses


def audit_reloads(url: str) -> list[dict[str, Any]]:
    reply = request("GET", url + "/admin/audit?action=config.reload&limit=50", headers=admin())
    assert reply.status == 200, reply.body
    return list(reply.json()["data"])


def test_reload_under_load_with_open_streams_drops_nothing_and_new_requests_see_the_new_config(
    sim: Any, tmp_path: Path, serve: Any, store_url: str
) -> None:
    store = store_url  # SQLite here; PostgreSQL in the suite's PostgreSQL pass
    config = write_config(tmp_path / "headway.yaml", sim.url, store)
    gw = serve(config)
    assert chat(gw.url, "chat-v2").status == 404  # not configured yet

    # ~16 tokens 250 ms apart: each stream stays open about 4 s, room for the reload below to finish
    # inside it on a busy host (at 120 ms, 2 s in all, a slow reload could outlast the streams).
    streams, results = open_streams(gw.url, count=4, itl_ms=250)
    stop = threading.Event()
    load, statuses = steady_load(gw.url, stop)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (  # every stream under way, not just most of them
        len(results) == 4 and all(r["chunks"] > 0 for r in results) and sum(r["chunks"] for r in results) >= 8
    ):
        time.sleep(0.05)
    assert all(r["chunks"] > 0 and r["finish"] is None for r in results), results  # open, mid-stream

    # The new file: a new model, and a tighter body limit.
    write_config(config, sim.url, store, server={"max_body_bytes": 2048},
                 models={"chat-v2": {"deployments": [{"provider": "sim", "model": "gpt-4o-mini"}],
                                     "price": {"input": 0.15, "output": 0.60}}})
    reloaded = request("POST", gw.url + "/admin/config/reload", headers=admin())
    assert reloaded.status == 200, reloaded.body
    body = reloaded.json()
    assert body["fingerprint_before"] != body["fingerprint_after"]
    assert "models.chat-v2 (added)" in body["changed"] and "server.max_body_bytes (changed)" in body["changed"]
    assert all(r["finish"] is None for r in results), "the streams must still be open across the switch"

    # New requests: the new model serves, the new limit holds.
    assert chat(gw.url, "chat-v2").status == 200
    too_big = chat(gw.url, content="x" * 3000)
    assert too_big.status == 413, too_big.body
    assert too_big.json()["error"]["code"] == "request_too_large"

    for thread in streams:
        thread.join(timeout=60)
    stop.set()
    load.join(timeout=30)
    assert [r for r in results if r["error"] or r["finish"] != "stop"] == [], results  # no dropped stream
    assert statuses and set(statuses) == {200}, statuses  # no error under load, across the switch

    (event, *_) = audit_reloads(gw.url)
    assert event["outcome"] == "ok" and event["actor"] not in ("", "anonymous", "signal:SIGHUP"), event
    assert event["detail"]["fingerprint_before"] == body["fingerprint_before"]
    assert event["detail"]["fingerprint_after"] == body["fingerprint_after"]
    assert ADMIN_KEY not in json.dumps(event)


def test_a_bad_file_changes_nothing_and_says_why(sim: Any, tmp_path: Path, serve: Any) -> None:
    store = f"sqlite:///{tmp_path}/headway.db"
    config = write_config(tmp_path / "headway.yaml", sim.url, store)
    gw = serve(config)
    good = config.read_text()

    broken = yaml.safe_load(good)
    broken["server"] = {"max_body_bytes": "lots"}
    broken["models"]["chat-v2"] = {"deployments": [{"provider": "sim", "model": "gpt-4o-mini"}]}
    config.write_text(yaml.safe_dump(broken))
    refused = request("POST", gw.url + "/admin/config/reload", headers=admin())
    assert refused.status == 400, refused.body
    error = refused.json()["error"]
    assert error["code"] == "config_invalid"
    assert str(config) in error["message"] and "server.max_body_bytes" in error["message"]
    assert "nothing changed" in error["message"]
    # Nothing changed: the old model list and limit are still the ones in force.
    assert chat(gw.url, "chat-v2").status == 404
    assert chat(gw.url, content="x" * 3000).status == 200
    failed = audit_reloads(gw.url)[0]
    assert failed["outcome"] == "failed" and "server.max_body_bytes" in failed["detail"]["error"]

    # A file that validates but names a provider that does not exist: refused too, by the build.
    broken = yaml.safe_load(good)
    broken["models"]["chat"]["deployments"] = [{"provider": "nowhere", "model": "x"}]
    config.write_text(yaml.safe_dump(broken))
    refused = request("POST", gw.url + "/admin/config/reload", headers=admin())
    assert refused.status == 400 and "nowhere" in refused.json()["error"]["message"], refused.body
    assert chat(gw.url).status == 200

    # SIGHUP with a bad file: a log line naming the file and the key path; still serving the old config.
    def refused_lines() -> list[str]:
        return [line for line in gw.output().splitlines() if "config reload refused" in line]

    before = len(refused_lines())
    config.write_text(yaml.safe_dump({**yaml.safe_load(good), "server": {"max_body_bytes": "lots"}}))
    gw.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while len(refused_lines()) == before and time.monotonic() < deadline:
        time.sleep(0.1)
    line = refused_lines()[-1]
    assert len(refused_lines()) == before + 1 and str(config) in line and "server.max_body_bytes" in line, line
    assert gw.proc.poll() is None
    assert chat(gw.url).status == 200


def test_sighup_to_the_parent_reloads_every_worker(sim: Any, tmp_path: Path, serve: Any) -> None:
    store = f"sqlite:///{tmp_path}/headway.db"
    config = write_config(tmp_path / "headway.yaml", sim.url, store)
    gw = serve(config, "--workers", "2")
    deadline = time.monotonic() + 60
    while gw.output().count("Application startup complete") < 2:  # both workers serving
        assert time.monotonic() < deadline and gw.proc.poll() is None, gw.output()[-3000:]
        time.sleep(0.1)
    write_config(config, sim.url, store, models={"chat-v2": {"deployments": [{"provider": "sim", "model": "gpt-4o-mini"}],
                                                              "price": {"input": 0.15, "output": 0.60}}})
    os.kill(gw.proc.pid, signal.SIGHUP)
    deadline = time.monotonic() + 30
    while chat(gw.url, "chat-v2").status != 200:
        assert time.monotonic() < deadline, gw.output()[-3000:]
        time.sleep(0.2)
    # Both workers reloaded: each audited its own switch (one connection per call, either worker answers).
    deadline = time.monotonic() + 30
    while len([e for e in audit_reloads(gw.url) if e["outcome"] == "ok"]) < 2:
        assert time.monotonic() < deadline, audit_reloads(gw.url)
        time.sleep(0.2)
    assert all(chat(gw.url, "chat-v2").status == 200 for _ in range(20))
    assert all(e["actor"] == "signal:SIGHUP" for e in audit_reloads(gw.url))


def test_sigterm_drains_not_ready_first_in_flight_finish_late_callers_get_a_json_503(
    sim: Any, tmp_path: Path, serve: Any, store_url: str
) -> None:
    store = store_url
    # A 3 s notice: long enough that the not-ready answer is seen inside it on a busy host.
    config = write_config(tmp_path / "headway.yaml", sim.url, store,
                          server={"drain_timeout_s": 2.0, "drain_notice_s": 3.0})
    gw = serve(config)
    replies: dict[str, Reply | BaseException] = {}

    marker = uuid.uuid4().hex

    def call(name: str, latency_ms: int) -> None:
        try:
            replies[name] = chat(gw.url, content=f"[sim:latency_ms={latency_ms}] {name} {marker}")
        except BaseException as exc:
            replies[name] = exc

    def reached_the_simulator() -> set[str]:
        log = request("GET", f"{sim.url}/sim/requests?limit=200").json()["requests"]
        texts = [str(((entry.get("body") or {}).get("messages") or [{}])[-1].get("content")) for entry in log]
        return {name for name in ("short", "long") for text in texts if f"{name} {marker}" in text}

    threads = [threading.Thread(target=call, args=("short", 1500)), threading.Thread(target=call, args=("long", 30000))]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while reached_the_simulator() != {"short", "long"}:  # both in flight
        assert time.monotonic() < deadline, "the two calls never reached the simulator"
        time.sleep(0.05)
    signalled = time.monotonic()
    gw.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10  # the notice period ends first (a closed listener fails the request)
    while (ready := request("GET", gw.url + "/readyz", timeout=5)).status == 200 and time.monotonic() < deadline:
        time.sleep(0.05)  # the process has not handled the signal yet
    # Inside the notice period: still accepted, not ready.
    assert ready.status == 503, ready.body
    assert ready.json()["checks"]["draining"]["ok"] is False
    assert any(r.startswith("draining:") for r in ready.json()["reasons"])

    for thread in threads:
        thread.join(timeout=30)
    short, long = replies["short"], replies["long"]
    assert isinstance(short, Reply) and short.status == 200, short  # in flight: finished
    assert isinstance(long, Reply), long
    assert long.status == 503 and long.headers.get("retry-after") == "1", long
    assert long.headers["content-type"].startswith("application/json")
    error = json.loads(long.body)["error"]
    assert error["code"] == "shutting_down" and error["type"]
    assert time.monotonic() - signalled < 15
    with pytest.raises(OSError):  # the listener is closed
        request("GET", gw.url + "/healthz", timeout=2)
    # A clean stop: uvicorn re-raises the SIGTERM it caught once shut down (systemd counts that as clean).
    assert gw.proc.wait(timeout=30) in (0, -signal.SIGTERM)
    output = gw.output()
    assert "graceful shutdown exceeded" not in output and "CancelledError" not in output, output[-3000:]


def test_the_api_reload_reaches_every_worker_and_an_unchanged_file_is_a_no_op(sim: Any, tmp_path: Path, serve: Any) -> None:
    store = f"sqlite:///{tmp_path}/headway.db"
    config = write_config(tmp_path / "headway.yaml", sim.url, store)
    gw = serve(config, "--workers", "2")
    deadline = time.monotonic() + 60
    while gw.output().count("Application startup complete") < 2:  # both workers serving
        assert time.monotonic() < deadline and gw.proc.poll() is None, gw.output()[-3000:]
        time.sleep(0.1)

    unchanged = request("POST", gw.url + "/admin/config/reload", headers=admin())
    assert unchanged.status == 200 and unchanged.json()["status"] == "unchanged", unchanged.body
    assert unchanged.json()["fingerprint_before"] == unchanged.json()["fingerprint_after"]

    write_config(config, sim.url, store, models={"chat-v2": {"deployments": [{"provider": "sim", "model": "gpt-4o-mini"}],
                                                              "price": {"input": 0.15, "output": 0.60}}})
    reloaded = request("POST", gw.url + "/admin/config/reload", headers=admin())
    assert reloaded.status == 200 and reloaded.json()["status"] == "reloaded", reloaded.body
    # The other worker follows through the supervisor (SIGHUP), audited under its own name.
    deadline = time.monotonic() + 30
    while not any(e["actor"] == "signal:SIGHUP" and e["outcome"] == "ok" for e in audit_reloads(gw.url)):
        assert time.monotonic() < deadline, (audit_reloads(gw.url), gw.output()[-3000:])
        time.sleep(0.2)
    assert all(chat(gw.url, "chat-v2").status == 200 for _ in range(20))  # a new connection each: either worker
    ok = [e for e in audit_reloads(gw.url) if e["outcome"] == "ok"]
    assert len(ok) == 2, ok  # one switch per worker; the sender's own relayed SIGHUP found nothing to do


def test_only_a_reload_that_switched_relays_to_the_other_workers(sim: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An unchanged file must not SIGHUP the siblings: the signal could land after the file's
    next edit, apply it unasked, and make the caller's next reload read "unchanged" (CI saw it)."""
    import asyncio

    from headway.api.reload import ServedApp
    from headway.config import load_config

    store = f"sqlite:///{tmp_path}/headway.db"
    config = write_config(tmp_path / "headway.yaml", sim.url, store)
    relayed: list[int] = []

    async def scenario() -> list[str]:
        served = ServedApp(str(config), load_config(config), relay=lambda: relayed.append(1))
        await served.runtime.start()
        try:
            statuses = [(await served.reload(actor="test", relay=True)).status]
            write_config(config, sim.url, store, models={"chat-v2": {"deployments": [{"provider": "sim", "model": "gpt-4o-mini"}]}})
            statuses.append((await served.reload(actor="test", relay=True)).status)
            statuses.append((await served.reload(actor="test", relay=True)).status)
            return statuses
        finally:
            await asyncio.gather(*served._retiring)  # the replaced runtimes, closed
            await served.runtime.close()

    monkeypatch.setenv("HW_TEST_RELOAD_ADMIN", ADMIN_KEY)
    assert asyncio.run(scenario()) == ["unchanged", "reloaded", "unchanged"]
    assert relayed == [1]  # the one switch, not the two no-ops
