"""A config reload under steady traffic: how long the reload takes, and what callers see meanwhile.

    .venv/bin/python bench/config_reload.py [--reloads 5] [--gap 1.5]

Starts the simulator and a real ``headway serve`` (one worker, SQLite, auth on) on
127.0.0.1, keeps one caller sending small chat completions back to back, and reloads the
config ``--reloads`` times through ``POST /admin/config/reload`` (each time a changed
``server.max_body_bytes``, so every reload builds a new runtime). Reports each reload's
wall time and the callers' statuses and latency percentiles over the whole run.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

from headway.sim import Scenario, start_in_thread
from headway.testing import free_port

ADMIN = "admin-key-for-the-reload-bench-0123456789"
HEADERS = {"authorization": f"Bearer {ADMIN}", "content-type": "application/json"}


def call(port: int, method: str, path: str, body: object = None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, path, body=None if body is None else json.dumps(body).encode(), headers=HEADERS)
        reply = connection.getresponse()
        return reply.status, reply.read()
    finally:
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reloads", type=int, default=5)
    parser.add_argument("--gap", type=float, default=1.5, help="Seconds between reloads.")
    args = parser.parse_args()
    sim = start_in_thread(Scenario(seed=7), host="127.0.0.1", port=0)
    work = Path(tempfile.mkdtemp(prefix="hw-reload-bench-"))
    config = {
        "store": f"sqlite:///{work}/headway.db",
        "auth": {"mode": "required", "bootstrap_admin_key": "${HW_BENCH_ADMIN}",
                 "audit": {"chain_secret": "${HW_BENCH_CHAIN:-chain-secret-for-the-reload-bench-0123}"}},
        "request_log": {"spill_dir": str(work / "spill")},
        "providers": {"sim": {"type": "openai", "base_url": f"{sim.url}/v1", "api_key": "${SIM_KEY:-sk-sim}"}},
        "models": {"chat": {"deployments": [{"provider": "sim", "model": "gpt-4o-mini"}], "price": {"input": 0.15, "output": 0.6}}},
    }
    path = work / "headway.yaml"
    path.write_text(yaml.safe_dump(config))
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "headway", "serve", "--config", str(path), "--port", str(port)],
        env={**os.environ, "HW_BENCH_ADMIN": ADMIN}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if call(port, "GET", "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("headway serve did not become ready")
            time.sleep(0.1)
        results: list[tuple[float, int]] = []
        stop = threading.Event()

        def caller() -> None:
            while not stop.is_set():
                started = time.perf_counter()
                status, _ = call(port, "POST", "/v1/chat/completions",
                                 {"model": "chat", "messages": [{"role": "user", "content": "hi"}]})
                results.append((time.perf_counter() - started, status))

        thread = threading.Thread(target=caller)
        thread.start()
        time.sleep(2 if args.reloads else 2 + args.gap * 5)  # --reloads 0: the same run without reloads
        walls = []
        for index in range(args.reloads):
            config["server"] = {"max_body_bytes": 4096 + index}
            path.write_text(yaml.safe_dump(config))
            started = time.perf_counter()
            status, body = call(port, "POST", "/admin/config/reload")
            walls.append(time.perf_counter() - started)
            assert status == 200, body
            time.sleep(args.gap)
        stop.set()
        thread.join()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
        sim.stop()
    latencies = sorted(seconds for seconds, _ in results)
    statuses = {status: sum(1 for _, s in results if s == status) for status in {s for _, s in results}}
    if walls:
        print(f"reloads: {', '.join(f'{w * 1000:.0f}' for w in walls)} ms (median {statistics.median(walls) * 1000:.0f} ms)")
    print(f"calls: {len(results)} {statuses}; p50 {latencies[len(latencies) // 2] * 1000:.1f} ms, "
          f"p99 {latencies[int(len(latencies) * 0.99)] * 1000:.1f} ms, max {latencies[-1] * 1000:.0f} ms")


if __name__ == "__main__":
    main()
