"""Putting an answer on the wire: pauses, streams, and the connection-level faults.

Everything that sleeps or touches the socket lives here, so the dialects stay pure. A
zero pause never reaches ``asyncio.sleep``, and a stream without pauses or cuts goes
out in one write: the zero-latency path is the benchmark path.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from asyncio import sleep  # one name to watch: tests assert the zero path never sleeps

from aiohttp import web

from headway.sim.dialect import Frame
from headway.sim.timing import Timing

SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "Connection": "keep-alive"}


async def pause(seconds: float) -> None:
    if seconds > 0:
        await sleep(seconds)


def drop_connection(request: web.BaseRequest, *, reset: bool) -> None:
    """Close the client's connection now; ``reset`` sends a TCP RST instead of a FIN.

    A FIN (``reset=False``) still delivers bytes already written, which is what a cut
    stream needs; a RST is what a crashed peer or a middlebox produces.
    """
    transport = request.transport
    if transport is None:
        return
    if reset:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError, AttributeError):
                # Linger on, timeout 0: close() discards the socket and sends RST.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    else:
        transport.close()


async def hang(request: web.BaseRequest, limit_s: float, stopping: asyncio.Event) -> None:
    """Never answer: wait until the client gives up, the limit passes, or the server stops."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), limit_s)
    drop_connection(request, reset=False)


async def send_truncated(request: web.BaseRequest, body: bytes) -> web.StreamResponse:
    """A 200 that promises ``len(body)`` bytes, sends half of them and hangs up."""
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    response.content_length = len(body)
    await response.prepare(request)
    await response.write(body[: len(body) // 2])
    drop_connection(request, reset=False)
    return response


async def play_stream(
    request: web.BaseRequest,
    frames: list[Frame],
    timing: Timing,
    *,
    cut_after: int | None,
    content_type: str = "text/event-stream",
) -> web.StreamResponse:
    """Send ``frames`` with their pauses; with ``cut_after``, hang up after that many content frames."""
    response = web.StreamResponse(status=200, headers={**SSE_HEADERS, "Content-Type": content_type})
    await response.prepare(request)
    if cut_after is None and timing.ttft <= 0 and timing.itl <= 0:
        await response.write(b"".join(frame.data for frame in frames))
        return response
    pending: list[bytes] = []
    sent = 0
    total = sum(frame.content for frame in frames)
    # A short answer is still cut: at the latest just before its closing frames.
    limit = total + 1 if cut_after is None else min(cut_after, total)
    for frame in frames:
        if sent >= limit and (frame.content or sent == total):
            break
        delay = timing.ttft if frame.pause == "ttft" else timing.itl if frame.pause == "itl" else 0.0
        if delay > 0:
            if pending:
                await response.write(b"".join(pending))
                pending.clear()
            await sleep(delay)
        pending.append(frame.data)
        sent += frame.content
    else:
        await response.write(b"".join(pending))
        return response
    if pending:
        await response.write(b"".join(pending))
    drop_connection(request, reset=False)
    return response
