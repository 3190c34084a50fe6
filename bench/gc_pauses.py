"""Garbage-collector pauses on the request path, with and without ``settle_heap`` (cli/serve.py).

    .venv/bin/python bench/gc_pauses.py [--requests 20000] [--concurrency 10] [--young 700,20000]

The default embedded config with auth by a real key, request log and metrics (as
``bench/instructions.py``), driven in process (``inprocess_path.post``, no HTTP server and
no load generator) at ``--concurrency`` requests in flight against the nginx upstream. Each
variant runs in its own child process: ``default`` is CPython's collector as it starts;
``settled young=N`` runs ``settle_heap(N)`` after start-up, as ``headway serve`` does. A
``gc.callbacks`` hook times every collection. Printed per variant: collections of each
generation per 1,000 requests, the time spent collecting per request, and the longest
pause (every request in flight waits for it: the tail). Pause durations stretch with the
machine's load; the counts and the ratios between variants do not.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _harness import keyed_gateway_config, nginx_upstream
from inprocess_path import post


async def drive(config: Path, key: str, requests: int, concurrency: int, young: int | None) -> dict[str, Any]:
    from headway.api.app import build_app
    from headway.cli.serve import settle_heap
    from headway.config.loader import load_config

    app = build_app(load_config(str(config)))
    headers = [(b"authorization", b"Bearer " + key.encode())]
    pauses: list[tuple[int, float]] = []
    started: list[float] = []

    def hook(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started.append(time.perf_counter())
        elif started:
            pauses.append((info["generation"], time.perf_counter() - started.pop()))

    async def worker(count: int, latencies: list[float]) -> None:
        for _ in range(count):
            began = time.perf_counter()
            assert await post(app, headers=headers) == 200
            latencies.append(time.perf_counter() - began)

    async with app.router.lifespan_context(app):
        for _ in range(500):  # warm-up: connections, caches, lazy imports
            assert await post(app, headers=headers) == 200
        if young is not None:
            settle_heap(young)
        latencies: list[float] = []
        gc.callbacks.append(hook)
        cpu = time.process_time()
        await asyncio.gather(*(worker(requests // concurrency, latencies) for _ in range(concurrency)))
        cpu = time.process_time() - cpu
        gc.callbacks.remove(hook)
    done = len(latencies)
    latencies.sort()
    per_gen = {g: [d for gen, d in pauses if gen == g] for g in (0, 1, 2)}
    return {
        "variant": "default" if young is None else f"settled young={young}",
        "requests": done,
        "collections_per_1000": {g: round(len(v) * 1000 / done, 2) for g, v in per_gen.items()},
        "gc_us_per_request": round(sum(d for _, d in pauses) / done * 1e6, 1),
        "longest_pause_ms": {g: round(max(v) * 1e3, 2) if v else 0.0 for g, v in per_gen.items()},
        "cpu_us_per_request": round(cpu / done * 1e6, 1),
        "p50_ms": round(latencies[done // 2] * 1e3, 2),
        "p99_ms": round(latencies[int(done * 0.99)] * 1e3, 2),
        "tracked_objects_after": len(gc.get_objects()),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--young", default="700,20000", help="young thresholds to try after settle_heap")
    parser.add_argument("--child", nargs=3, metavar=("CONFIG", "KEY", "YOUNG"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        config, key, young = args.child
        result = asyncio.run(
            drive(
                Path(config), key, args.requests, args.concurrency, None if young == "default" else int(young)
            )
        )
        print("RESULT " + json.dumps(result))
        return
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="hw-gc-") as tmp, nginx_upstream() as upstream:
        config, key = keyed_gateway_config(upstream, Path(tmp))
        for young in ["default", *args.young.split(",")]:
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--requests",
                    str(args.requests),
                    "--concurrency",
                    str(args.concurrency),
                    "--child",
                    str(config),
                    key,
                    young,
                ],
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
            lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
            if not lines:
                print(young, "failed:", out.stderr[-2000:])
                continue
            print(json.dumps(json.loads(lines[-1][7:])))
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
