"""CPU per upstream call: aiohttp as the providers called it, the lean client they call now, a bare floor.

    .venv/bin/python bench/upstream_client.py [--calls 2000] [--rounds 5] [--uvloop]
        [--candidates pyreqwest aiosonic curl_cffi niquests httpcore]

All post the same small chat body over one keep-alive connection to the nginx upstream
(``_harness.nginx_upstream``) and decode the JSON answer, in interleaved rounds, CPU from
``time.process_time`` (every thread of the process: a client with its own threads pays
there too). ``aiohttp`` is ``providers/_http.py``'s session and call as they were before
stop 14 (``new_session``, ``client_timeout``, ``data=`` bytes); ``http1`` is
``providers/_http1.py``'s pool, which ``post_json_object`` uses now; ``floor`` is an
``asyncio.Protocol`` that writes the request bytes and parses only ``Content-Length`` —
no pool, no chunked bodies, no decompression, no timeouts beyond one ``wait_for``, no error
classification: not a client, a lower bound. ``--candidates`` adds other client libraries
(not dependencies: install them apart, e.g. ``pip install --target DIR``, and put DIR on
``PYTHONPATH``). ``--uvloop`` runs on uvloop, as ``headway serve`` does.
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
from headway.providers._http1 import Http1Pool
from headway.providers.base import Timeouts

PAYLOAD = {"model": "chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}


class _Floor(asyncio.Protocol):
    def __init__(self) -> None:
        self.buffer = b""
        self.reply: asyncio.Future[Any] | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is no asyncio.Transport subclass

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        head, sep, rest = self.buffer.partition(b"\r\n\r\n")
        if not sep:
            return
        length = int(head.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
        if len(rest) >= length and self.reply is not None:
            self.buffer = b""
            self.reply.set_result(orjson.loads(rest[:length]))


Call = Callable[[], Awaitable[Any]]
HEADERS = {"content-type": "application/json"}


# Other client libraries, each as the providers would call it: one shared client (keep-alive),
# the body as bytes, the answer read whole and decoded with orjson. Imported only when asked
# for: none of them is a dependency. A client with its own threads (pyreqwest's tokio runtime,
# curl's) costs CPU off the main thread: process_time counts every thread of the process.
async def _pyreqwest(url: str) -> tuple[Call, Call]:
    from pyreqwest.client import ClientBuilder

    client = ClientBuilder().build()

    async def call() -> Any:
        resp = await client.post(url).headers(HEADERS).body_bytes(orjson.dumps(PAYLOAD)).build().send()
        return orjson.loads(bytes(await resp.bytes()))

    return call, client.close


async def _aiosonic(url: str) -> tuple[Call, Call]:
    import aiosonic

    client = aiosonic.HTTPClient()

    async def call() -> Any:
        resp = await client.post(url, data=orjson.dumps(PAYLOAD), headers=HEADERS)
        return orjson.loads(await resp.content())

    async def close() -> None:
        await client.connector.cleanup()

    return call, close


async def _curl_cffi(url: str) -> tuple[Call, Call]:
    from curl_cffi.requests import AsyncSession

    session = AsyncSession()

    async def call() -> Any:
        resp = await session.post(url, data=orjson.dumps(PAYLOAD), headers=HEADERS)
        return orjson.loads(resp.content)

    return call, session.close


async def _niquests(url: str) -> tuple[Call, Call]:
    import niquests

    session = niquests.AsyncSession()

    async def call() -> Any:
        resp = await session.post(url, data=orjson.dumps(PAYLOAD), headers=HEADERS)
        return orjson.loads(resp.content or b"")

    return call, session.close


async def _httpcore(url: str) -> tuple[Call, Call]:
    import httpcore

    pool = httpcore.AsyncConnectionPool()

    async def call() -> Any:
        resp = await pool.request("POST", url, headers=list(HEADERS.items()), content=orjson.dumps(PAYLOAD))
        return orjson.loads(resp.content)

    return call, pool.aclose


CANDIDATES: dict[str, Callable[[str], Awaitable[tuple[Call, Call]]]] = {
    "pyreqwest": _pyreqwest,
    "aiosonic": _aiosonic,
    "curl_cffi": _curl_cffi,
    "niquests": _niquests,
    "httpcore": _httpcore,
}


async def measure(port: int, calls: int, rounds: int, candidates: list[str]) -> dict[str, Any]:
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

    lean = Http1Pool()

    async def via_http1() -> Any:
        reply = await lean.request(
            "POST",
            url,
            body=orjson.dumps(PAYLOAD),
            headers=HEADERS,
            connect_timeout=timeouts.connect,
            read_timeout=timeouts.first_token,
            total_timeout=timeouts.total,
        )
        return orjson.loads(reply.body)

    variants: dict[str, Callable[[], Awaitable[Any]]] = {"aiohttp": via_aiohttp, "http1": via_http1, "floor": via_floor}
    closers: list[Callable[[], Awaitable[Any]]] = []
    for name in candidates:
        call, close = await CANDIDATES[name](url)
        variants[name] = call
        closers.append(close)
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
    await lean.close()
    for close in closers:
        await close()
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
    parser.add_argument("--candidates", nargs="*", default=[], choices=sorted(CANDIDATES),
                        help="other client libraries to time beside aiohttp (must be importable)")
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop, as `headway serve` does")
    args = parser.parse_args()
    if args.uvloop:
        import uvloop

        uvloop.install()
    with nginx_upstream() as port:
        print(json.dumps(asyncio.run(measure(port, args.calls, args.rounds, args.candidates))))


if __name__ == "__main__":
    main()
