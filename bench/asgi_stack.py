"""What the ASGI layers cost on their own: cheap requests through the whole app, no upstream.

    .venv/bin/python bench/asgi_stack.py [--calls 5000] [--rounds 3]

Drives ``build_app(config)`` in process (as ``bench/inprocess_path.py`` does) with two
requests that never reach a provider: ``GET /healthz`` (the five Headway middlewares,
Starlette's error and exception middlewares, the router, the guarded route, a handler and
its response) and a ``POST /v1/chat/completions`` refused by validation (the same, plus
access control, the body read and the exception handler's 400). Prints CPU µs per call for
each round. Compare two trees with ``PYTHONPATH=<other tree>/src``, runs interleaved.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from _harness import gateway_config
from inprocess_path import post

from headway.api.app import build_app
from headway.config.loader import load_config

REFUSED = b'{"model":"chat"}'  # no messages: a 400 from validation


async def get_healthz(app: Any) -> int:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/healthz",
        "raw_path": b"/healthz",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench")],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 80),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    status: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(scope, receive, send)
    return status[0]


async def rounds(app: Any, calls: int, count: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"get_healthz": [], "post_refused": []}
    async with app.router.lifespan_context(app):
        for _ in range(500):
            assert await get_healthz(app) == 200
            assert await post(app, body=REFUSED) == 400
        for _ in range(count):
            cpu = time.process_time()
            for _ in range(calls):
                await get_healthz(app)
            out["get_healthz"].append(round((time.process_time() - cpu) / calls * 1e6, 2))
            cpu = time.process_time()
            for _ in range(calls):
                await post(app, body=REFUSED)
            out["post_refused"].append(round((time.process_time() - cpu) / calls * 1e6, 2))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hw-stack-") as tmp:
        # The upstream port is never called: neither request reaches a provider.
        app = build_app(load_config(str(gateway_config(1, Path(tmp)))))
        print(json.dumps(asyncio.run(rounds(app, args.calls, args.rounds))))


if __name__ == "__main__":
    main()
