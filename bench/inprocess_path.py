"""The request path's own cost, in process: N chat completions driven straight into the ASGI app.

    .venv/bin/python bench/inprocess_path.py [--requests 3000] [--rounds 3]

No HTTP server and no load generator: a minimal ASGI driver posts the same body N times
(one at a time) into ``build_app(config)``; the upstream is nginx returning a fixed
``chat.completion`` (``_harness.nginx_upstream``), reached through the providers' client as in production.
Prints CPU µs and wall µs per request for each round. With the generator and the server
out of the picture, two source trees compare fairly on one busy machine: run it with
``PYTHONPATH=<other tree>/src`` as well, interleaved.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _harness import gateway_config, nginx_upstream

from headway.api.app import build_app
from headway.config.loader import load_config

BODY = b'{"model":"chat","messages":[{"role":"user","content":"hi"}],"max_tokens":5}'


async def flush_writes(app: Any) -> None:
    """Write what the request log and the cache hold behind, now: the measured requests' rows
    reach the store inside the count (their writers' threads are part of what a request costs)."""
    runtime = app.state.runtime
    await runtime.request_log.flush()
    flush_cache = getattr(runtime.cache.backend, "flush", None)  # an embedded cache's rows; none when off
    if flush_cache is not None:
        await flush_cache()


async def post(app: Any, *, headers: Sequence[tuple[bytes, bytes]] = (), body: bytes = BODY) -> int:
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
        "path": "/v1/chat/completions", "raw_path": b"/v1/chat/completions", "query_string": b"", "root_path": "",
        "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), (b"host", b"bench"), *headers,
        ],
        "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 80),
    }
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client never disconnects
        raise AssertionError

    status: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(scope, receive, send)
    return status[0]


async def rounds(app: Any, requests: int, count: int) -> list[dict[str, float]]:
    out = []
    async with app.router.lifespan_context(app):
        for _ in range(300):  # warm-up: connections, caches, JIT-free but lazy imports
            assert await post(app) == 200
        for _ in range(count):
            cpu, wall = time.process_time(), time.perf_counter()
            for _ in range(requests):
                await post(app)
            out.append({
                "cpu_us_per_request": round((time.process_time() - cpu) / requests * 1e6, 1),
                "wall_us_per_request": round((time.perf_counter() - wall) / requests * 1e6, 1),
            })
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hw-inproc-") as tmp, nginx_upstream() as upstream:
        app = build_app(load_config(str(gateway_config(upstream, Path(tmp)))))
        print(json.dumps(asyncio.run(rounds(app, args.requests, args.rounds))))


if __name__ == "__main__":
    main()
