"""Interactive latency with and without a 10,000-line batch running alongside.

    .venv/bin/python bench/batch_interference.py [--rate 40] [--seconds 20] [--lines 10000]
        [--latency-ms 50] [--parts alone,gated,worker,ungated] [--out batch_interference.json]

One simulator process (every answer after ``--latency-ms``) and one ``headway serve``
process on the embedded store. ``headway load`` (``run_load``, open loop at ``--rate``
requests/s, unique prompts) measures the interactive p50/p95/p99 in each part:

- alone:   no batch;
- gated:   a ``--lines`` batch running in the gateway's own worker with the default
           capacity gate (4 lines at once when idle, fewer as interactive calls or the
           event loop's lag rise);
- worker:  the same batch in a separate ``headway worker`` process (``jobs.worker: false``
           on the gateway), as a scaled-out deployment would run it;
- ungated: the batch in the gateway with the gate opened wide (64 lines at once, never
           yielding to interactive calls or to event-loop lag), to show what the gate prevents.

For the batch parts it also reports how many lines the batch answered during the
measurement (the capacity it used). Everything runs on 127.0.0.1 and stops by itself.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import openai
import yaml
from _harness import HEADWAY, free_port, wait_port

from headway.loadtest import LoadConfig, run_load_blocking

PARTS = ("alone", "gated", "worker", "ungated")


@contextmanager
def process(args: list[str], log: Path, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def gateway_config(tmp: Path, sim_port: int, part: str) -> Path:
    jobs: dict[str, Any] = {"poll_interval_s": 0.2}
    if part == "worker":
        jobs["worker"] = False
    if part == "ungated":
        jobs["batch"] = {"max_concurrency": 64, "yield_at_interactive": 1_000_000, "max_loop_lag_ms": None}
    config = {
        "store": f"sqlite:///{tmp}/{part}.db",
        "auth": {"mode": "none"},
        "logging": {"level": "warning"},
        "request_log": {"spill_dir": str(tmp / f"spill-{part}")},
        "providers": {"sim": {"type": "openai", "base_url": f"http://127.0.0.1:{sim_port}/v1", "api_key": "${SIM_KEY:-sk-sim}"}},
        "models": {"chat": {"deployments": [{"provider": "sim", "model": "gpt-4o-mini"}], "price": {"input": 0.15, "output": 0.6}}},
        "jobs": jobs,
    }
    path = tmp / f"{part}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def batch_lines(count: int) -> bytes:
    rows = (
        json.dumps(
            {
                "custom_id": f"line-{i}",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {"model": "chat", "messages": [{"role": "user", "content": f"Summarise record {i}"}], "max_tokens": 16},
            }
        )
        for i in range(count)
    )
    return "\n".join(rows).encode()


def completed(sdk: openai.OpenAI, batch_id: str) -> int:
    counts = sdk.batches.retrieve(batch_id).request_counts
    return counts.completed + counts.failed if counts is not None else 0


def measure(base_url: str, rate: float, seconds: float) -> dict[str, Any]:
    report = run_load_blocking(
        LoadConfig(base_url=base_url, model="chat", rates=(rate,), duration_s=seconds, unique_prompts=True, max_tokens=16, timeout_s=30)
    )
    step = report.steps[0]
    latency = step.latency_ms
    return {
        "requests": step.ok + step.error_count,
        "errors": step.error_count,
        "p50_ms": round(latency.p50, 1) if latency else None,
        "p95_ms": round(latency.p95, 1) if latency else None,
        "p99_ms": round(latency.p99, 1) if latency else None,
        "throughput_rps": round(step.throughput_rps, 1),
    }


def run_part(part: str, tmp: Path, sim_port: int, args: argparse.Namespace) -> dict[str, Any]:
    config = gateway_config(tmp, sim_port, part)
    port = free_port()
    log = tmp / f"{part}.log"
    with process([str(HEADWAY), "serve", "--config", str(config), "--port", str(port)], log):
        wait_port(port, timeout=60)
        base_url = f"http://127.0.0.1:{port}/v1"
        sdk = openai.OpenAI(base_url=base_url, api_key="unused", max_retries=0, timeout=120)
        if part == "alone":
            return {"part": part, "interactive": measure(base_url, args.rate, args.seconds)}
        with process([str(HEADWAY), "worker", "--config", str(config)], log) if part == "worker" else _nothing():
            started = time.monotonic()
            file_id = sdk.files.create(file=("batch.jsonl", io.BytesIO(batch_lines(args.lines))), purpose="batch").id
            batch = sdk.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h")
            accepted_s = time.monotonic() - started
            deadline = time.monotonic() + 120
            while completed(sdk, batch.id) < 20 and time.monotonic() < deadline:  # the batch is running
                time.sleep(0.2)
            before = completed(sdk, batch.id)
            interactive = measure(base_url, args.rate, args.seconds)
            during = completed(sdk, batch.id) - before
            sdk.batches.cancel(batch.id)
            while sdk.batches.retrieve(batch.id).status not in ("cancelled", "completed") and time.monotonic() < deadline + 60:
                time.sleep(0.2)
            final = sdk.batches.retrieve(batch.id)
        return {
            "part": part,
            "interactive": interactive,
            "batch": {
                "lines": args.lines,
                "upload_and_create_s": round(accepted_s, 2),
                "lines_during_measurement": during,
                "lines_per_s": round(during / args.seconds, 1),
                "final_status": final.status,
                "cost_usd": (final.model_extra or {}).get("cost_usd"),
            },
        }


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=40.0, help="interactive requests per second (open loop)")
    parser.add_argument("--seconds", type=float, default=20.0, help="measurement per part")
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=int, default=50, help="simulator latency of every answer")
    parser.add_argument("--parts", default=",".join(PARTS))
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    parts = [p for p in args.parts.split(",") if p]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="hw-batch-bench-") as raw_tmp:
        tmp = Path(raw_tmp)
        scenario = tmp / "sim.yaml"
        scenario.write_text(yaml.safe_dump({"seed": 1, "latency_ms": args.latency_ms, "output_tokens": 16, "request_log_size": 0}))
        sim_port = free_port()
        with process([str(HEADWAY), "sim", "--port", str(sim_port), "--scenario", str(scenario)], tmp / "sim.log"):
            wait_port(sim_port, timeout=60)
            for part in parts:
                result = run_part(part, tmp, sim_port, args)
                results.append(result)
                print(json.dumps(result), flush=True)
    summary = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "rate": args.rate,
        "seconds": args.seconds,
        "latency_ms": args.latency_ms,
        "cpus": os.cpu_count(),
        "results": results,
    }
    if args.out is not None:
        args.out.write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
