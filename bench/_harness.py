"""Shared benchmark plumbing: an nginx upstream with a fixed body, headway processes, wrk runs.

Benchmarks only ever target 127.0.0.1, are bounded in time, and stop what they start.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADWAY = ROOT / ".venv" / "bin" / "headway"

CHAT_BODY = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10},
    }
)
REQUEST_BODY = json.dumps({"model": "chat", "messages": [{"role": "user", "content": "Say ok"}]})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


@contextmanager
def nginx_upstream(workers: int = 1) -> Iterator[int]:
    """nginx answering any POST on /v1/chat/completions with a fixed chat.completion body."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="hw-nginx-") as tmp:
        body = CHAT_BODY.replace("'", "")
        conf = Path(tmp, "nginx.conf")
        conf.write_text(
            f"""
worker_processes {workers};
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body; proxy_temp_path {tmp}/proxy; fastcgi_temp_path {tmp}/fcgi;
  uwsgi_temp_path {tmp}/uwsgi; scgi_temp_path {tmp}/scgi;
  keepalive_requests 1000000;
  server {{
    listen 127.0.0.1:{port};
    location / {{ default_type application/json; return 200 '{body}'; }}
  }}
}}
"""
        )
        proc = subprocess.Popen([nginx, "-c", str(conf), "-g", "daemon off;"], stderr=subprocess.DEVNULL)
        try:
            wait_port(port)
            yield port
        finally:
            proc.terminate()
            proc.wait(10)


def gateway_config(upstream_port: int, directory: Path, *, extra: str = "") -> Path:
    config = directory / "bench.yaml"
    config.write_text(
        f"""
server: {{host: 127.0.0.1, port: 0}}
store: sqlite:///{directory}/bench.db
auth: {{mode: none}}
logging: {{level: warning}}
request_log: {{spill_dir: {directory}/spill}}
providers:
  upstream: {{type: openai, base_url: "http://127.0.0.1:{upstream_port}/v1"}}
models:
  chat:
    deployments: [{{provider: upstream, model: gpt-4o-mini}}]
    price: {{input: 0.15, output: 0.60}}
{extra}
"""
    )
    return config


def keyed_gateway_config(upstream: int, directory: Path) -> tuple[Path, str]:
    """The bench config with auth required and one real app key, made in the store."""
    config = gateway_config(upstream, directory)
    config.write_text(config.read_text().replace("auth: {mode: none}", "auth: {mode: required}"))
    made = subprocess.run(
        [str(HEADWAY), "keys", "create", "--config", str(config), "--principal", "bench", "--role", "app", "--json"],
        capture_output=True, text=True, check=True, timeout=120,
    )
    return config, json.loads(made.stdout.strip().splitlines()[-1])["key"]


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    """End a process started with ``start_new_session=True`` and everything it started:
    SIGTERM to its group, then SIGKILL if it has not gone within 20 s."""
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


@contextmanager
def headway_server(
    config: Path, *, workers: int = 1, cpus: str | None = None
) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    port = free_port()
    command = [str(HEADWAY), "serve", "--config", str(config), "--port", str(port), "--workers", str(workers)]
    if cpus:
        command = ["taskset", "-c", cpus, *command]
    proc = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        wait_port(port, 30)
        yield port, proc
    finally:
        stop_group(proc)


# What every wrk script ends with: one JSON line of latency percentiles and counts for run_wrk.
WRK_REPORT = (
    "done = function(summary, latency, requests)\n"
    '  io.write(string.format("JSON {\\"p50\\": %d, \\"p90\\": %d, \\"p99\\": %d, \\"requests\\": %d, \\"errors\\": %d}\\n",\n'
    "    latency:percentile(50), latency:percentile(90), latency:percentile(99), summary.requests,\n"
    "    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))\n"
    "end\n"
)


def wrk_script(
    directory: Path, body: str = REQUEST_BODY, *, headers: dict[str, str] | None = None, name: str = "post"
) -> Path:
    """A wrk script POSTing ``body`` as JSON with ``headers`` (an Authorization, say)."""
    script = directory / f"{name}.lua"
    extra = "".join(f'wrk.headers["{key}"] = "{value}"\n' for key, value in (headers or {}).items())
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(body)}\n"
        'wrk.headers["Content-Type"] = "application/json"\n' + extra + WRK_REPORT
    )
    return script


def run_wrk(
    url: str,
    script: Path,
    *,
    connections: int,
    seconds: int,
    threads: int | None = None,
    cpus: str | None = None,
) -> dict[str, float]:
    threads = threads or (1 if connections == 1 else 2)
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    if cpus:
        command = ["taskset", "-c", cpus, *command]
    out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    summary = json.loads(out.split("JSON ", 1)[1].splitlines()[0])
    return {
        "rps": float(match.group(1)) if match else 0.0,
        "p50_ms": summary["p50"] / 1000,
        "p90_ms": summary["p90"] / 1000,
        "p99_ms": summary["p99"] / 1000,
        "requests": summary["requests"],
        "errors": summary["errors"],
    }


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (uvicorn workers), in MB."""
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            continue
    return total / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its children (uvicorn workers), in seconds."""
    total = 0.0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    ticks = os.sysconf("SC_CLK_TCK")
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def memory_trend(
    url: str, script: Path, pid: int, total: int, *, connections: int = 50, slice_s: int = 2, cpus: str | None = None
) -> dict[str, object]:
    """RSS of ``pid`` (and its workers) sampled as ``total`` requests are sent, about ten
    samples; wrk has no request-count bound, so it runs ``slice_s`` slices and counts them."""
    samples = [{"requests": 0, "rss_mb": round(rss_mb(pid), 1)}]
    sent = 0
    step = max(1, total // 10)
    while sent < total:
        result = run_wrk(url, script, connections=connections, seconds=slice_s, cpus=cpus)
        if not result["requests"]:
            raise RuntimeError(f"no requests served in a {slice_s} s slice: {result}")
        sent += int(result["requests"])
        if sent >= step * len(samples) or sent >= total:
            samples.append({"requests": sent, "rss_mb": round(rss_mb(pid), 1)})
    return {"requests": sent, "connections": connections, "samples": samples}
