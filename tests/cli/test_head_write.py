"""A response's head leaves in one socket write with its first body bytes (``headway.cli.head_write``).

Driven through the gateway's own protocol (``GuardedHttpProtocol``) with a transport that
records each ``write()``, so the test sees the writes themselves, not what TCP merged.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.server import ServerState

from headway.cli.head_write import HeadWithBody
from headway.cli.http_server import GuardedHttpProtocol, server_config
from headway.config import ServerConfig

REQUEST = b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n"


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def serve_once(app: Any, transport: RecordingTransport | None = None) -> RecordingTransport:
    config = server_config(app, ServerConfig())
    config.load()
    protocol = GuardedHttpProtocol(config, ServerState(), {})
    transport = transport or RecordingTransport()
    protocol.connection_made(transport)
    protocol.data_received(REQUEST)
    for _ in range(20):  # the app's task, then the deferred flush
        await asyncio.sleep(0)
    await asyncio.sleep(0.05)
    protocol.connection_lost(None)
    return transport


async def sse_app(scope: Any, receive: Any, send: Any) -> None:
    """Like an SSE reply whose first event is in hand: start and first body in one step, then more later."""
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
    await send({"type": "http.response.body", "body": b"data: first\n\n", "more_body": True})
    await asyncio.sleep(0.01)
    await send({"type": "http.response.body", "body": b"data: second\n\n", "more_body": False})


def test_the_head_goes_out_with_the_first_event_and_later_events_alone() -> None:
    writes = asyncio.run(serve_once(sse_app)).writes
    assert len(writes) == 2, writes
    head_and_first, rest = writes
    assert head_and_first.startswith(b"HTTP/1.1 200 OK\r\n")
    assert head_and_first.endswith(b"\r\n\r\nd\r\ndata: first\n\n\r\n")  # the whole head, then the first chunk
    assert rest == b"e\r\ndata: second\n\n\r\n0\r\n\r\n"


def test_a_json_reply_is_one_write() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"{}"})

    writes = asyncio.run(serve_once(app)).writes
    assert len(writes) == 1, writes
    assert writes[0].startswith(b"HTTP/1.1 200 OK\r\n") and writes[0].endswith(b"\r\n\r\n{}")


def test_a_head_whose_body_is_late_is_not_held_for_it() -> None:
    transport = RecordingTransport()
    written_while_waiting: list[int] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        await asyncio.sleep(0.01)  # the first event is not ready in this step
        written_while_waiting.append(len(transport.writes))
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    writes = asyncio.run(serve_once(app, transport)).writes
    assert written_while_waiting == [1]  # the head went out at the end of its own step
    assert len(writes) == 2, writes
    assert writes[0].startswith(b"HTTP/1.1 200 OK\r\n") and writes[0].endswith(b"\r\n\r\n")
    assert writes[1] == b"0\r\n\r\n"


def test_close_writes_a_held_head_first() -> None:
    async def run() -> RecordingTransport:
        transport = RecordingTransport()
        wrapper = HeadWithBody(transport, asyncio.get_running_loop())
        wrapper.write(b"head")
        wrapper.close()
        return transport

    transport = asyncio.run(run())
    assert transport.writes == [b"head"] and transport.closed


def test_a_held_head_is_dropped_when_the_connection_closed_meanwhile() -> None:
    async def run() -> RecordingTransport:
        transport = RecordingTransport()
        wrapper = HeadWithBody(transport, asyncio.get_running_loop())
        wrapper.write(b"head")
        transport.closed = True  # the client went away before the end of the step
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return transport

    assert asyncio.run(run()).writes == []
