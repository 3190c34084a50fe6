"""Reading a provider's streamed response: one place for deadlines, framing and transport errors.

Every adapter's stream goes through ``open_stream``: it sends the request under the
first-token deadline, turns an error status into an ``UpstreamError``, then yields the
frames a ``FrameDecoder`` (SSE, or AWS's binary event stream) cuts from the raw bytes.
The body is read in whatever pieces arrive, never by line, so a long line cannot raise
a transport library's own error; the decoder bounds sizes instead. Whatever goes wrong
(timeout, reset, truncated chunked body, oversized or undecodable frame) leaves here as
an ``UpstreamError`` in Headway's words, so routing can fail over before the first chunk
and record why.

Deadlines: an absolute first-token deadline covers the response head and every frame up
to the first content (keep-alives do not stretch it); once the adapter calls
``content_started()`` each frame must arrive within ``idle``; ``total`` bounds it all.

Transport: the pool's lean HTTP/1.1 client in streamed mode (``_http1.Http1Pool.stream``),
which holds at most a bounded amount of unread body (backpressure on a slow reader). A
stream left at its last event hands its connection back for reuse; one left for any other
reason (an error, a cancelled caller) closes it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any, Generic, Protocol, TypeVar

from yarl import URL

from headway.errors import UpstreamError
from headway.providers._http import PooledSession, upstream_error_from_exception
from headway.providers._http1 import BrokenBody, Http1Stream
from headway.providers.base import Timeouts

FrameT = TypeVar("FrameT")
# An error answer's body is read whole to report it; a provider's is a few KB. Past this the
# error is reported without its body (an endless one would otherwise be buffered until the deadline).
ERROR_BODY_BYTES = 1024 * 1024


class FrameDecoder(Protocol[FrameT]):
    def feed(self, chunk: bytes) -> list[FrameT]:
        """Frames completed by ``chunk``; raises ``UpstreamError`` for bytes that cannot be framed."""
        ...

    def finish(self) -> list[FrameT]:
        """Frames completed by the end of the stream itself."""
        ...

    @property
    def pending(self) -> bool:
        """Whether an unfinished frame is held."""
        ...


class UpstreamStream(Generic[FrameT]):
    """The frames of one streamed response; iterate it, and call ``content_started`` at the first content."""

    def __init__(self, response: Http1Stream, decoder: FrameDecoder[FrameT], timeouts: Timeouts, started: float):
        self._response = response
        self._decoder = decoder
        self._idle = timeouts.idle
        self._deadline = started + timeouts.total if timeouts.total is not None else None
        first = started + timeouts.first_token if timeouts.first_token is not None else None
        self._first_deadline = _earliest(first, self._deadline)
        self._ready: list[FrameT] = []
        self.streaming = False  # True once content has started: failures are then ``stream_cut``
        self.ended = False

    def content_started(self) -> None:
        self.streaming = True

    @property
    def phase(self) -> str:
        return "stream" if self.streaming else "first token"

    def _next_deadline(self) -> float | None:
        if not self.streaming:
            return self._first_deadline
        idle = time.monotonic() + self._idle if self._idle is not None else None
        return _earliest(idle, self._deadline)

    def __aiter__(self) -> UpstreamStream[FrameT]:
        return self

    async def __anext__(self) -> FrameT:
        while not self._ready:
            if self.ended:
                raise StopAsyncIteration
            try:
                async with asyncio.timeout_at(_loop_time(self._next_deadline())):
                    chunk = await self._response.read()
            except UpstreamError:
                raise
            except (BrokenBody, TimeoutError, OSError, ValueError) as exc:
                raise upstream_error_from_exception(exc, phase=self.phase) from None
            self._ready = self._decoder.feed(chunk) if chunk else self._decoder.finish()
            self.ended = not chunk
            self._ready.reverse()
        return self._ready.pop()

    @property
    def pending(self) -> bool:
        """Whether the stream ended (or stands) inside an unfinished frame."""
        return self._decoder.pending

    def cut_error(self, terminal: str) -> UpstreamError:
        """The error for a stream that ended before its ``terminal`` event."""
        where = "inside an unfinished event" if self.pending else f"before {terminal}"
        return UpstreamError("stream_cut", f"the provider's stream ended {where}")


@asynccontextmanager
async def open_stream(
    pool: PooledSession,
    url: str | URL,
    *,
    data: bytes,
    headers: Mapping[str, str],
    timeouts: Timeouts,
    decoder: FrameDecoder[FrameT],
    error_from_response: Callable[[int, Any, bytes], UpstreamError],
) -> AsyncIterator[UpstreamStream[FrameT]]:
    """POST ``data`` and yield its response's frames; every failure as an ``UpstreamError``."""
    started = time.monotonic()
    head_deadline = _earliest(
        started + timeouts.first_token if timeouts.first_token is not None else None,
        started + timeouts.total if timeouts.total is not None else None,
    )
    try:
        async with asyncio.timeout_at(_loop_time(head_deadline)):
            response = await pool.lean().stream(
                "POST", str(url), body=data, headers=headers, connect_timeout=timeouts.connect
            )
    except (BrokenBody, TimeoutError, OSError, ValueError) as exc:
        raise upstream_error_from_exception(exc, phase="first token") from None
    try:
        if response.status >= 400:
            try:
                async with asyncio.timeout_at(_loop_time(head_deadline)):
                    raw = await response.read_all(ERROR_BODY_BYTES)
            except (BrokenBody, TimeoutError, OSError, ValueError):
                raw = b""
            response.release()  # read whole (or closed by the failed read): pooled if it may be
            raise error_from_response(response.status, response.headers, raw)
        yield UpstreamStream(response, decoder, timeouts, started)
    except BaseException:
        # Abandoned (an error, a cancelled caller): close, so the connection is not reused half-read.
        response.close()
        raise
    else:
        # Left at its last event (or read to its end): pooled once the body's framing has ended.
        response.release()


def _earliest(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    return a if b is None else min(a, b)


def _loop_time(monotonic_deadline: float | None) -> float | None:
    """A ``time.monotonic()`` deadline on the running loop's clock (uvloop's clock differs)."""
    if monotonic_deadline is None:
        return None
    return asyncio.get_running_loop().time() + (monotonic_deadline - time.monotonic())
