"""Small real servers that play a misbehaving provider: an aiohttp app, and a raw TCP one for broken HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class FakeUpstream:
    """Records every request and answers with ``handler``; tests swap the handler."""

    url: str = ""
    handler: Handler | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(
            {
                "path": request.path,
                "query": dict(request.query),
                "headers": dict(request.headers),
                "json": _json_or_none(body),
                "raw": body,
            }
        )
        assert self.handler is not None
        return await self.handler(request)


def _json_or_none(body: bytes) -> Any:
    try:
        return orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return None  # a form (token requests) or anything else: tests read "raw"


@contextlib.asynccontextmanager
async def fake_upstream() -> AsyncIterator[FakeUpstream]:
    server = FakeUpstream()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.dispatch)
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    server.url = f"http://{host}:{port}"
    try:
        yield server
    finally:
        await runner.cleanup()


def answer_json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(body=orjson.dumps(body), status=status, headers=headers, content_type="application/json")

    return handler


def answer_stream(payload: bytes, *, piece: int = 7, content_type: str = "text/event-stream") -> Handler:
    """Stream ``payload`` in small pieces so frames arrive split across reads, then end cleanly."""

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": content_type})
        await response.prepare(request)
        for start in range(0, len(payload), piece):
            await response.write(payload[start : start + piece])
        await response.write_eof()
        return response

    return handler


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """One request's head and Content-Length body, as bytes."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return head + await reader.readexactly(length)


@contextlib.asynccontextmanager
async def raw_http(reply: bytes | list[bytes], *, ending: str = "close") -> AsyncIterator[str]:
    """A TCP server answering every connection with ``reply`` verbatim, then ``close`` (FIN) or ``reset`` (RST).

    A list of parts is sent one part at a time with a short pause between, so the client
    has read each part before the next (a transport error discards what is still buffered).
    """
    parts = reply if isinstance(reply, list) else [reply]

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)  # the adapters always send Content-Length
        for index, part in enumerate(parts):
            if index:
                await asyncio.sleep(0.1)
            writer.write(part)
            await writer.drain()
        if ending == "reset":
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        else:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()
