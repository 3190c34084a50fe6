"""``EventStreamResponse``: all chunks reach the client; a disconnect stops the stream and the call
ends normally; any other cancellation goes on up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import pytest

from headway.api.responses import EventStreamResponse


def _scope(spec: str = "2.3") -> dict[str, Any]:
    return {"type": "http", "asgi": {"version": "3.0", "spec_version": spec}, "method": "POST", "path": "/v1/x", "headers": []}


class Client:
    def __init__(self, *, leave_after: int | None = None) -> None:
        self.sent: list[MutableMapping[str, Any]] = []
        self.leave_after = leave_after  # body chunks received before the client goes away
        self._gone = asyncio.Event()

    async def receive(self) -> dict[str, Any]:
        await self._gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: MutableMapping[str, Any]) -> None:
        self.sent.append(message)
        bodies = [m for m in self.sent if m["type"] == "http.response.body" and m.get("body")]
        if self.leave_after is not None and len(bodies) >= self.leave_after:
            self._gone.set()


@pytest.mark.parametrize("spec", ["2.3", "2.4"])
async def test_every_chunk_reaches_the_client_then_the_end(spec: str) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for i in range(3):
            yield f"data: {i}\n\n".encode()

    client = Client()
    await EventStreamResponse(chunks())(_scope(spec), client.receive, client.send)
    assert client.sent[0]["type"] == "http.response.start" and client.sent[0]["status"] == 200
    assert (b"content-type", b"text/event-stream; charset=utf-8") in client.sent[0]["headers"]
    assert [m["body"] for m in client.sent[1:]] == [b"data: 0\n\n", b"data: 1\n\n", b"data: 2\n\n", b""]
    assert client.sent[-1]["more_body"] is False


async def test_a_disconnect_cancels_the_stream_where_it_waits_and_the_call_returns() -> None:
    seen: list[str] = []

    async def chunks() -> AsyncIterator[bytes]:
        try:
            for i in range(1000):
                yield f"data: {i}\n\n".encode()
                await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            seen.append("cancelled")  # where the serving code records a 499
            raise

    client = Client(leave_after=2)
    await asyncio.wait_for(EventStreamResponse(chunks())(_scope(), client.receive, client.send), 5)
    assert seen == ["cancelled"]
    bodies = [m for m in client.sent if m["type"] == "http.response.body"]
    assert len(bodies) == 2  # nothing after the client left, not even the closing empty body
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


async def test_a_cancellation_that_is_not_a_disconnect_goes_on_up() -> None:
    started = asyncio.Event()

    async def chunks() -> AsyncIterator[bytes]:
        yield b"data: 0\n\n"
        started.set()
        await asyncio.sleep(60)
        yield b"data: never\n\n"

    client = Client()
    task = asyncio.create_task(EventStreamResponse(chunks())(_scope(), client.receive, client.send))
    await started.wait()
    task.cancel()  # e.g. a drain's cut of an overdue call
    with pytest.raises(asyncio.CancelledError):
        await task
