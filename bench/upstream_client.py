"""CPU per upstream call: aiohttp as the providers call it, against a bare asyncio floor.

    .venv/bin/python bench/upstream_client.py [--calls 2000] [--rounds 5]

Both post the same small chat body over one keep-alive connection to the nginx upstream
(``_harness.nginx_upstream``) and decode the JSON answer. ``aiohttp`` is
``providers/_http.py``'s session and call (``new_session``, ``client_timeout``, ``data=``
bytes); ``floor`` is an ``asyncio.Protocol`` that writes the request bytes and parses only
``Content-Length`` — no pool, no chunked bodies, no decompression, no timeouts beyond one
``wait_for``, no error classification: not a client, a lower bound. The difference is what
a leaner upstream client could at most save per non-streamed request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from _harness import nginx_upstream

from headway.providers._http import client_timeout, new_session
from headway.providers.base import Timeouts

PAYLOAD = {"model": "chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}


class _Floor(asyncio.Protocol):
    def __init__(self) -> None:
        self.buffer = b""
        self.reply: asyncio.Future[Any] | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        head, sep, rest = self.buffer.partition(b"\r\n\r\n")
        if not sep:
            return
        length = int(head.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
        if len(rest) >= length and self.reply is not None:
            self.buffer = b""
            self.reply.set_result(orjson.loads(rest[:length]))


async def measure(port: int, calls: int, rounds: int) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    session = new_session()
    url = f"http://127.0.0.1:{port}/v1/chat/completions"
    timeouts = Timeouts()
    _, floor = await loop.create_connection(_Floor, "127.0.0.1", port)

    async def via_aiohttp() -> Any:
        timeout = client_timeout(timeouts.connect, timeouts.first_token, timeouts.total)
        headers = {"content-type": "application/json"}
        async with session.post(url, data=orjson.dumps(PAYLOAD), headers=headers, timeout=timeout) as resp:
            return orjson.loads(await resp.read())

    async def via_floor() -> Any:
        body = orjson.dumps(PAYLOAD)
        floor.reply = loop.create_future()
        assert floor.transport is not None
        floor.transport.write(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )
        return await asyncio.wait_for(floor.reply, 30)

    variants: dict[str, Callable[[], Awaitable[Any]]] = {"aiohttp": via_aiohttp, "floor": via_floor}
    cpu_us: dict[str, list[float]] = {name: [] for name in variants}
    for call in variants.values():
        for _ in range(300):
            assert "choices" in await call()
    for _ in range(rounds):
        for name, call in variants.items():  # interleaved, so load drifts hit both alike
            started = time.process_time()
            for _ in range(calls):
                await call()
            cpu_us[name].append(round((time.process_time() - started) / calls * 1e6, 1))
    await session.close()
    assert floor.transport is not None
    floor.transport.close()
    return {
        name: {"cpu_us_per_call": values, "median": statistics.median(values)}
        for name, values in cpu_us.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with nginx_upstream() as port:
        print(json.dumps(asyncio.run(measure(port, args.calls, args.rounds))))


if __name__ == "__main__":
    main()
