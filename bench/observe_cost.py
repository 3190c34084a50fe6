"""The hot-path cost of observability: everything on versus everything off.

    .venv/bin/python bench/observe_cost.py [--seconds 8] [--rounds 2] [--out results.json]

"off": metrics disabled, tracing off, no request log lines, log level warning.
"metrics+logs": Prometheus metrics and one JSON log line per request (info, to a file).
"on":  that plus OpenTelemetry traces exported over OTLP/HTTP (to a local nginx that answers 200).
Both: one worker pinned to CPU 1, nginx upstream and wrk pinned to CPU 0, 127.0.0.1 only.
Rounds alternate off/on so drift hits both. Also times the in-process fan-out
(``Observability.on_record``) per record. Every process started here is stopped here.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
import timeit
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from _harness import HEADWAY, free_port, nginx_upstream, run_wrk, stop_group, wait_port, wrk_script

MODES = {
    "off": """
logging: {level: warning}
observe:
  metrics: {enabled: false}
  tracing: {enabled: "off"}
  logs: {request_lines: false}
""",
    "metrics+logs": """
logging: {level: info}
observe:
  metrics: {enabled: true}
  tracing: {enabled: "off"}
  logs: {request_lines: true}
""",
    "on": """
logging: {level: info}
observe:
  metrics: {enabled: true}
  tracing: {enabled: "on", exporter: otlp}
  logs: {request_lines: true}
""",
}


def write_config(directory: Path, upstream: int, mode: str) -> Path:
    path = directory / f"{mode}.yaml"
    path.write_text(
        f"""
server: {{host: 127.0.0.1, port: 0}}
store: sqlite:///{directory}/{mode}.db
auth: {{mode: none}}
request_log: {{spill_dir: {directory}/spill-{mode}}}
providers:
  upstream: {{type: openai, base_url: "http://127.0.0.1:{upstream}/v1"}}
models:
  chat:
    deployments: [{{provider: upstream, model: gpt-4o-mini}}]
    price: {{input: 0.15, output: 0.60}}
{MODES[mode]}"""
    )
    return path


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads: the span exporter's included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def server(config: Path, log_path: Path, env: dict[str, str]) -> Iterator[tuple[int, int]]:
    """Like the harness's, but stderr (the JSON log) goes to a file, never an unread pipe."""
    port = free_port()
    command = [
        "taskset",
        "-c",
        "1",
        str(HEADWAY),
        "serve",
        "--config",
        str(config),
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True, env={**os.environ, **env}
        )
        try:
            wait_port(port, 30)
            yield port, proc.pid
        finally:
            stop_group(proc)


def fan_out_microseconds() -> dict[str, float]:
    """In-process cost of one record's fan-out (metrics + span annotation + log line)."""
    import io
    import logging

    from headway.config.models import HeadwayConfig, LoggingConfig
    from headway.observe.logs import configure_logging, reset_logging
    from headway.observe.observability import Observability
    from headway.store.sql import SqlStore
    from headway.types import Attempt, RequestRecord

    record = RequestRecord(
        request_id="req_bench",
        endpoint="chat.completions",
        model="chat",
        status_code=200,
        latency_ms=3.2,
        input_tokens=9,
        output_tokens=1,
        cost_usd=1.95e-6,
        served_by="primary",
        deployment="upstream/gpt-4o-mini",
        attempts=[Attempt("upstream/gpt-4o-mini", "upstream", "gpt-4o-mini", "ok", 2.9, 200)],
    )
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        store = SqlStore(f"sqlite:///{tmp}/f.db")
        for mode, observe in (
            (
                "off",
                {
                    "metrics": {"enabled": False},
                    "tracing": {"enabled": "off"},
                    "logs": {"request_lines": False},
                },
            ),
            ("on", {"tracing": {"enabled": "on", "exporter": "none"}}),
        ):
            handler = configure_logging(LoggingConfig(level="info"), stream=io.StringIO())
            observability = Observability(
                HeadwayConfig.model_validate({"observe": observe, "auth": {"mode": "none"}}), store
            )
            tracing = observability.tracing

            def one(o: Observability = observability, t: Any = tracing) -> None:
                # As in the server: inside the request span the middleware opens.
                with t.request("req_bench", "POST", "/v1/chat/completions", {}):
                    o.on_record(record)

            n = 5_000
            # CPU time, not wall time: other processes on the machine must not count against us.
            seconds = min(timeit.repeat(one, number=n, repeat=5, timer=time.process_time))
            results[mode] = round(seconds / n * 1e6, 2)
            reset_logging(handler)
            logging.getLogger().handlers.clear()
        store.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    results: dict[str, object] = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "seconds": args.seconds,
        "rounds": args.rounds,
    }
    runs: dict[str, dict[int, list[dict[str, float]]]] = {m: {1: [], 50: []} for m in MODES}
    with tempfile.TemporaryDirectory(prefix="hw-obs-") as tmp, nginx_upstream() as upstream:
        directory = Path(tmp)
        script = wrk_script(directory)
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{upstream}",
            "OTEL_BSP_SCHEDULE_DELAY": "500",
        }
        for _ in range(args.rounds):
            for mode in MODES:
                config = write_config(directory, upstream, mode)
                with server(config, directory / f"{mode}.log", env) as (port, pid):
                    url = f"http://127.0.0.1:{port}/v1/chat/completions"
                    run_wrk(url, script, connections=10, seconds=2, cpus="0")  # warm-up
                    for connections in (1, 50):
                        before = cpu_seconds(pid)
                        result = run_wrk(url, script, connections=connections, seconds=args.seconds, cpus="0")
                        # CPU per request is the load-independent measure: throughput and latency
                        # also move with whatever else the machine runs.
                        result["cpu_us_per_request"] = (
                            (cpu_seconds(pid) - before) / max(1, result["requests"]) * 1e6
                        )
                        runs[mode][connections].append(result)
        log_lines = (directory / "on.log").read_bytes().count(b"\n")
    summary = {}
    for mode, per_c in runs.items():
        summary[mode] = {
            f"c{c}": {
                "rps": round(statistics.median(r["rps"] for r in rs), 1),
                "p50_ms": round(statistics.median(r["p50_ms"] for r in rs), 3),
                "p99_ms": round(statistics.median(r["p99_ms"] for r in rs), 3),
                "cpu_us_per_request": round(statistics.median(r["cpu_us_per_request"] for r in rs), 1),
            }
            for c, rs in per_c.items()
        }
    results["summary"] = summary
    results["raw"] = runs
    results["json_log_lines_written_last_on_round"] = log_lines
    results["fan_out_us_per_record"] = fan_out_microseconds()
    off, on = summary["off"], summary["on"]
    print(
        "mode | C=1 p50 ms | C=1 p99 ms | C=1 req/s | C=50 req/s | C=50 p50 ms | C=50 p99 ms | CPU µs/request (C=1, C=50)"
    )
    for mode in MODES:
        s = summary[mode]
        print(
            f"{mode:>4} | {s['c1']['p50_ms']:.3f} | {s['c1']['p99_ms']:.3f} | {s['c1']['rps']:.0f} | {s['c50']['rps']:.0f} | "
            f"{s['c50']['p50_ms']:.3f} | {s['c50']['p99_ms']:.3f} | {s['c1']['cpu_us_per_request']:.0f}, {s['c50']['cpu_us_per_request']:.0f}"
        )
    print(
        f"on vs off: C=1 p50 {on['c1']['p50_ms'] - off['c1']['p50_ms']:+.3f} ms; "
        f"C=50 throughput {100 * (on['c50']['rps'] / off['c50']['rps'] - 1):+.1f}%; "
        f"CPU per request at C=50 {on['c50']['cpu_us_per_request'] - off['c50']['cpu_us_per_request']:+.0f} µs"
    )
    print("fan-out per record (µs):", results["fan_out_us_per_record"])
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
