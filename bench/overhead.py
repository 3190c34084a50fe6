"""What Headway adds over calling the upstream directly: latency at C=1/10/50/200, max throughput, memory.

    .venv/bin/python bench/overhead.py [--seconds 8] [--workers 1,2] [--memory-requests 100000]

Upstream: nginx returning a fixed chat.completion (costs next to nothing). Generator: wrk
with a Lua POST script. Everything on 127.0.0.1; all processes are stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from _harness import (
    cpu_seconds,
    gateway_config,
    headway_server,
    memory_trend,
    nginx_upstream,
    run_wrk,
    wrk_script,
)

CONCURRENCY = (1, 10, 50, 200)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--memory-requests", type=int, default=100_000)
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args()
    results: dict[str, object] = {"date": time.strftime("%Y-%m-%d %H:%M"), "seconds": args.seconds}
    with tempfile.TemporaryDirectory(prefix="hw-bench-") as tmp, nginx_upstream() as upstream:
        directory = Path(tmp)
        script = wrk_script(directory)
        direct_url = f"http://127.0.0.1:{upstream}/v1/chat/completions"
        run_wrk(direct_url, script, connections=10, seconds=2)  # warm-up
        results["direct"] = {
            c: run_wrk(direct_url, script, connections=c, seconds=args.seconds) for c in CONCURRENCY
        }
        config = gateway_config(upstream, directory)
        for workers in (int(w) for w in args.workers.split(",")):
            with headway_server(config, workers=workers) as (port, proc):
                url = f"http://127.0.0.1:{port}/v1/chat/completions"
                run_wrk(url, script, connections=10, seconds=3)  # warm-up
                per_c = {}
                for c in CONCURRENCY:
                    before = cpu_seconds(proc.pid)
                    per_c[c] = run_wrk(url, script, connections=c, seconds=args.seconds)
                    # CPU per request is the figure least disturbed by other load on the machine.
                    per_c[c]["cpu_us_per_request"] = (cpu_seconds(proc.pid) - before) / max(1, per_c[c]["requests"]) * 1e6
                results[f"headway_w{workers}"] = per_c
                if workers == 1 and args.memory_requests:
                    results["memory"] = memory_trend(url, script, proc.pid, args.memory_requests)
        print_table(results)
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2))


def print_table(results: dict[str, object]) -> None:
    direct = results["direct"]
    assert isinstance(direct, dict)
    for key, per_c in results.items():
        if not key.startswith("headway"):
            continue
        assert isinstance(per_c, dict)
        print(
            f"\n{key}: concurrency | headway req/s | direct req/s | headway p50 ms | direct p50 ms | p50 overhead ms | p99 ms"
        )
        for c in CONCURRENCY:
            h, d = per_c[c], direct[c]
            print(
                f"  {c:>4} | {h['rps']:>9.0f} | {d['rps']:>9.0f} | {h['p50_ms']:.3f} | {d['p50_ms']:.3f} | {h['p50_ms'] - d['p50_ms']:.3f} | {h['p99_ms']:.2f} | {h['cpu_us_per_request']:.0f}"
            )
    if "memory" in results:
        print("\nmemory:", results["memory"])


if __name__ == "__main__":
    main()
