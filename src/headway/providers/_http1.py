"""A lean HTTP/1.1 client for upstream calls, whole or streamed: asyncio protocols + httptools.

aiohttp's client costs ~90 µs of CPU per call more than a bare protocol on the same socket
(bench/upstream_client.py; docs/benchmarks.md, stop 13): request and response objects,
timer contexts, tracing hooks and stream readers a whole JSON answer does not need. This
client sends one request and reads one whole response per call, on a keep-alive pool per
origin, with what the providers rely on and no more:

- http and https (the ssl module's default verifying context), keep-alive reuse, idle
  connections the server closed are noticed and never reused, closed after 30 s idle;
- request bodies with ``Content-Length``; responses framed by ``Content-Length``, chunked,
  or until close; ``gzip`` / ``deflate`` decoded (as aiohttp does without brotli installed);
- aiohttp's three timeouts, same meanings: ``connect`` (a new connection), ``read`` (longest
  wait for the next bytes once the request is sent), ``total`` (the whole call);
- aiohttp's limits against a hostile upstream: each header field 8,190 bytes, 128 fields;
  and the whole head (status line included) ≤ 64 KiB, so it is never buffered unbounded;
  a whole response's body ≤ ``MAX_BODY_BYTES`` (256 MiB) as received and again once
  decoded, so neither an endless body nor a gzip bomb exhausts memory (aiohttp had no
  limit; 2,048 inputs of 3,072-dimension embeddings as JSON floats are ~130 MB);
- response headers as a case-insensitive ``CIMultiDictProxy``; no cookies, no redirects,
  no proxies (the aiohttp session had no jar, no ``trust_env``, and posts are not redirected
  by these providers' APIs).

Failures are raised as the exception classes below (or ``TimeoutError``, ``ConnectionError``);
``_http.upstream_error_from_exception`` maps them onto the same ``UpstreamError`` kinds
and words as aiohttp's exceptions.

Streamed mode (``Http1Pool.stream``, used by ``_stream.open_stream``): the head is returned
as soon as it is parsed and the decoded body is read piece by piece as it arrives. At most
``STREAM_BUFFER_BYTES`` of unread body are held: past that the transport stops reading
(the kernel's window then slows the upstream), so a slow reader never makes Headway buffer
a stream without bound. A stream read to its end returns its connection to the pool; one
released at its last event drains the few bytes left (the chunked terminator) in the
background before reuse; one abandoned is closed, never pooled half-read.
"""

from __future__ import annotations

import asyncio
import collections
import re
import ssl
import sys
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import httptools
from multidict import CIMultiDict, CIMultiDictProxy

MAX_FIELD_BYTES = 8190  # aiohttp's max_line_size / max_field_size
MAX_HEADERS = 128  # aiohttp's max_headers
MAX_HEAD_BYTES = 64 * 1024
MAX_BODY_BYTES = 256 * 1024 * 1024  # a whole response's body, as received and as decoded
KEEPALIVE_SECONDS = 30.0  # aiohttp's keepalive_timeout as new_session sets it
STREAM_BUFFER_BYTES = 256 * 1024  # unread streamed body held before the transport stops reading
_PIECE_BYTES = 64 * 1024  # most decoded bytes one read returns from a compressed body
DRAIN_BYTES = 64 * 1024  # most body a released stream may still carry to be reused
DRAIN_SECONDS = 1.0  # how long a released stream may take to finish to be reused
_USER_AGENT_LINE = f"User-Agent: Python/{sys.version_info[0]}.{sys.version_info[1]} headway\r\n"
_UNSAFE_IN_TARGET = re.compile(r"[^\x21-\x7e]")


class CannotConnect(ConnectionError):
    """No connection could be opened (refused, unreachable, name not found, TLS refused)."""


class BrokenBody(Exception):
    """The response body ended early (connection lost mid-body, bad chunking, bad compression)."""


class UnreadableResponse(ValueError):
    """The upstream did not answer in HTTP/1.x the parser accepts (status line, headers, limits)."""


@dataclass(slots=True)
class Http1Response:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes


@dataclass(frozen=True, slots=True)
class _Target:
    origin: tuple[str, str, int]  # scheme, host, port: the pool key
    request_line: bytes  # " <target> HTTP/1.1\r\n": the request line less its method
    host_line: str


class _Connection(asyncio.Protocol):
    """One keep-alive connection; at most one request in flight."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._waiter: asyncio.Future[None] | None = None
        self._headers: list[tuple[str, str]] = []
        self._chunks: list[bytes] = []
        self._body_bytes = 0  # of a whole response, against MAX_BODY_BYTES
        self._head_bytes = 0
        self._head_done = False
        self.complete = False
        self._keep_alive = False
        self._status = 0
        self._result: tuple[int, list[tuple[str, str]], list[bytes]] = (0, [], [])
        self._timer: asyncio.TimerHandle | None = None
        self._read_timeout: float | None = None
        self._total_deadline: float | None = None
        self._last_data = 0.0
        # Streamed mode: the head resolves the exchange; the body is queued for ``next_body``.
        self._streaming = False
        self.in_body = False  # a streamed body is being received
        self._body: collections.deque[bytes] = collections.deque()
        self.buffered = 0  # unread streamed body bytes held
        self._paused = False
        self._body_done = False
        self._body_error: BaseException | None = None
        self._reader: asyncio.Future[None] | None = None
        self._drained: Callable[[_Connection], None] | None = None
        self._drain_left = 0

    # --- asyncio.Protocol -------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not an asyncio.Transport subclass

    def data_received(self, data: bytes) -> None:
        if self._waiter is None and not self.in_body:  # bytes while idle: the connection's state is unknown now
            self._lose(None)
            return
        self._last_data = self._loop.time()
        if not self._head_done:
            self._head_bytes += len(data)
        try:
            self._parser.feed_data(data)
        except UnreadableResponse as exc:  # a limit, raised from a callback below
            self._fail(exc)
            return
        except Exception as exc:  # httptools.HttpParserError: not HTTP, bad chunking, ...
            if isinstance(exc.__context__, UnreadableResponse):  # a limit raised in a callback, wrapped by httptools
                self._fail(exc.__context__)
            else:
                self._fail(BrokenBody() if self._head_done else UnreadableResponse(type(exc).__name__))
            return
        if not self._head_done and self._head_bytes > MAX_HEAD_BYTES:
            self._fail(UnreadableResponse("response head too large"))

    def eof_received(self) -> bool | None:
        return None  # close; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self._lose(exc)

    # --- httptools callbacks ----------------------------------------------------------
    def on_message_begin(self) -> None:
        if self._waiter is None and not self.in_body:  # a second answer nobody asked for, in the first one's bytes
            self._headers, self._chunks = [], []  # not into the answer already taken
            self.close()

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(name) + len(value) > MAX_FIELD_BYTES or len(self._headers) >= MAX_HEADERS:
            raise UnreadableResponse("response header too large")
        self._headers.append((name.decode("utf-8", "surrogateescape"), value.decode("utf-8", "surrogateescape")))

    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()
        if self._status >= 200:
            self._head_done = True
            # Asked here: once the message is complete the parser already reads the next one.
            self._keep_alive = self._parser.should_keep_alive()
            if self._streaming:  # the head is the answer; the body follows through next_body
                self.in_body = True
                self._result = (self._status, self._headers, [])
                self._finish(None)

    def on_body(self, body: bytes) -> None:
        if not self.in_body:
            self._body_bytes += len(body)
            if self._body_bytes > MAX_BODY_BYTES:
                raise UnreadableResponse("response body too large")
            self._chunks.append(body)
        elif self._drained is not None:  # released at its last event: only the framing's end may follow
            self._drain_left -= len(body)
            if self._drain_left < 0:
                self.close()
        else:
            self._body.append(body)
            self.buffered += len(body)
            if self.buffered > STREAM_BUFFER_BYTES and not self._paused and self.transport is not None:
                self._paused = True
                self.transport.pause_reading()
            self._wake()

    def on_message_complete(self) -> None:
        if self.in_body:
            self.in_body = False
            self.complete = True
            self._body_done = True
            self._wake()
            self._drain_over()
            return
        if self._waiter is None:
            return
        if self._status < 200:  # an interim answer (103 Early Hints, 100 Continue): the real one follows
            self._headers = []
            self._head_bytes = 0
            return
        self.complete = True
        self._result = (self._status, self._headers, self._chunks)  # before anything after it is parsed
        self._finish(None)

    # --- one exchange -----------------------------------------------------------------
    def send(
        self, data: bytes, read_timeout: float | None, total_deadline: float | None, *, streaming: bool = False
    ) -> asyncio.Future[None]:
        assert self.transport is not None and self._waiter is None and not self.in_body
        self._waiter = waiter = self._loop.create_future()
        self._streaming = streaming
        self._body.clear()
        self.buffered = 0
        self._body_done = False
        self._body_error = None
        self._headers = []
        self._chunks = []
        self._body_bytes = 0
        self._head_bytes = 0
        self._head_done = False
        self.complete = False
        self._read_timeout = read_timeout
        self._total_deadline = total_deadline
        self._last_data = now = self._loop.time()
        self._arm(now)
        self.transport.write(data)
        return waiter

    def response(self) -> tuple[int, list[tuple[str, str]], bytes]:
        status, headers, chunks = self._result
        return status, headers, chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def reusable(self) -> bool:
        return self.complete and self._keep_alive and not self.closed

    async def next_body(self) -> bytes:
        """The streamed body bytes received and not yet read (b"" at its end); raises if it broke."""
        while not self._body:
            if self._body_error is not None:
                raise self._body_error
            if self._body_done:
                return b""
            self._reader = self._loop.create_future()
            try:
                await self._reader
            finally:
                self._reader = None
        data = self._body.popleft() if len(self._body) == 1 else b"".join(self._body)
        self._body.clear()
        self.buffered = 0
        if self._paused and not self.closed and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()
        return data

    def drain(self, done: Callable[[_Connection], None]) -> None:
        """Released before its end: read on in the background, ``done`` at the end if it comes soon and small."""
        self._body.clear()
        self.buffered = 0
        self._drained = done
        self._drain_left = DRAIN_BYTES
        self._timer = self._loop.call_later(DRAIN_SECONDS, self.close)
        if self._paused and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()

    def _wake(self) -> None:
        if self._reader is not None and not self._reader.done():
            self._reader.set_result(None)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()
        self._drain_over()

    def _drain_over(self) -> None:
        """A drain ended (whole, too long, too big or lost): hand the connection back to be pooled or closed."""
        drained, self._drained = self._drained, None
        if drained is not None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            drained(self)

    # --- internals --------------------------------------------------------------------
    def _arm(self, now: float) -> None:
        """One timer per exchange: at the earlier of the read and total deadlines."""
        read_deadline = None if self._read_timeout is None else self._last_data + self._read_timeout
        deadline = self._total_deadline if read_deadline is None else (
            read_deadline if self._total_deadline is None else min(read_deadline, self._total_deadline)
        )
        self._timer = None if deadline is None else self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self._waiter is None:
            return
        now = self._loop.time()
        total_over = self._total_deadline is not None and now >= self._total_deadline
        read_over = self._read_timeout is not None and now - self._last_data >= self._read_timeout
        if total_over or read_over:
            self._fail(TimeoutError())
        else:
            self._arm(now)  # bytes arrived since: wait again from the last of them

    def _finish(self, exc: BaseException | None) -> None:
        waiter, self._waiter = self._waiter, None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if waiter is not None and not waiter.done():
            if exc is None:
                waiter.set_result(None)
            else:
                waiter.set_exception(exc)

    def _fail(self, exc: BaseException) -> None:
        self.close()
        if self.in_body:
            self._end_body(exc)
        self._finish(exc)

    def _end_body(self, exc: BaseException | None) -> None:
        self.in_body = False
        if exc is None:
            self.complete = True
            self._body_done = True
        else:
            self._body_error = exc
        self._wake()

    def _lose(self, exc: Exception | None) -> None:
        was_closed, self.closed = self.closed, True
        if self.in_body:
            self._end_body(None if self._until_close() else BrokenBody())
            self._drain_over()
            return
        if self._waiter is None:
            if not was_closed and self.transport is not None:
                self.transport.close()
            return
        if self._head_done and self._until_close():
            self.complete = True
            self._result = (self._status, self._headers, self._chunks)
            self._finish(None)
        elif self._head_done:
            self._fail(BrokenBody())
        else:
            self._fail(ConnectionResetError() if exc is None else exc)

    def _until_close(self) -> bool:
        """The body is framed by the connection's end: neither a length nor chunking announced."""
        if self._keep_alive:
            return False
        return not any(name.lower() in ("content-length", "transfer-encoding") for name, _ in self._headers)


class Http1Pool:
    """Keep-alive connections per origin; one instance per provider (its ``PooledSession``)."""

    def __init__(self, *, keepalive: float = KEEPALIVE_SECONDS, ssl_context: ssl.SSLContext | None = None) -> None:
        """``ssl_context`` replaces the default verifying one (tests trust their own certificate)."""
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._busy: set[_Connection] = set()
        self._targets: dict[str, _Target] = {}
        self._keepalive = keepalive
        self._sweeper: asyncio.TimerHandle | None = None
        self._ssl = ssl_context
        self.closed = False

    async def request(
        self,
        method: str,
        url: str,
        *,
        body: bytes,
        headers: Mapping[str, str],
        connect_timeout: float | None,
        read_timeout: float | None,
        total_timeout: float | None,
    ) -> Http1Response:
        """Send one request and read its whole response; raises the module's exceptions or TimeoutError."""
        loop = asyncio.get_running_loop()
        target = self._target(url)
        head = _head(method, target, headers, len(body))
        total_deadline = None if total_timeout is None else loop.time() + total_timeout
        conn = self._idle_connection(target.origin, loop.time())
        if conn is None:
            conn = await self._connect(loop, target.origin, connect_timeout, total_deadline)
        self._busy.add(conn)
        try:
            await conn.send(head + body if body else head, read_timeout, total_deadline)
        except BaseException:
            conn.close()  # cancelled or failed mid-exchange: its state is unknown
            raise
        finally:
            self._busy.discard(conn)
        status, raw_headers, data = conn.response()
        if conn.reusable() and not self.closed:
            self._release(target.origin, conn, loop)
        else:
            conn.close()
        response_headers = CIMultiDictProxy(CIMultiDict(raw_headers))
        encoding = response_headers.get("content-encoding")
        if encoding is not None and data:
            data = _decoded(data, encoding)
        return Http1Response(status, response_headers, data)

    async def stream(
        self, method: str, url: str, *, body: bytes, headers: Mapping[str, str], connect_timeout: float | None
    ) -> Http1Stream:
        """Send one request and return as soon as its response head is parsed; the body is read from the result.

        No read or total timeout here: the caller bounds the wait for the head and for each read.
        """
        loop = asyncio.get_running_loop()
        target = self._target(url)
        head = _head(method, target, headers, len(body))
        conn = self._idle_connection(target.origin, loop.time())
        if conn is None:
            conn = await self._connect(loop, target.origin, connect_timeout, None)
        self._busy.add(conn)
        try:
            await conn.send(head + body if body else head, None, None, streaming=True)
        except BaseException:
            self._busy.discard(conn)
            conn.close()  # cancelled or failed before the head: its state is unknown
            raise
        status, raw_headers, _ = conn.response()
        return Http1Stream(self, target.origin, conn, status, CIMultiDictProxy(CIMultiDict(raw_headers)))

    def _settle(self, origin: tuple[str, str, int], conn: _Connection) -> None:
        """A streamed exchange is over: pool its connection if its body was whole and it may be kept."""
        self._busy.discard(conn)
        if conn.reusable() and not self.closed:
            self._release(origin, conn, asyncio.get_running_loop())
        else:
            conn.close()

    async def close(self) -> None:
        self.closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()
        for conn in list(self._busy):
            conn.close()
        self._busy.clear()
        await asyncio.sleep(0)  # let the transports run their connection_lost

    def _target(self, url: str) -> _Target:
        target = self._targets.get(url)
        if target is None:
            target = _split(url)
            if len(self._targets) >= 1024:  # URLs carry model names: bound the cache
                self._targets.clear()
            self._targets[url] = target
        return target

    def _idle_connection(self, origin: tuple[str, str, int], now: float) -> _Connection | None:
        idle = self._idle.get(origin)
        while idle:
            conn = idle.pop()  # the most recently used: the least likely to have been closed
            if not conn.closed and now - conn.idle_since < self._keepalive and not _closing(conn):
                return conn
            conn.close()
        return None

    async def _connect(
        self,
        loop: asyncio.AbstractEventLoop,
        origin: tuple[str, str, int],
        connect_timeout: float | None,
        total_deadline: float | None,
    ) -> _Connection:
        scheme, host, port = origin
        timeout = connect_timeout
        if total_deadline is not None:
            left = total_deadline - loop.time()
            timeout = left if timeout is None else min(timeout, left)
        tls: ssl.SSLContext | None = None
        if scheme == "https":
            if self._ssl is None:
                self._ssl = ssl.create_default_context()
            tls = self._ssl
        try:
            async with asyncio.timeout(timeout):
                _, conn = await loop.create_connection(
                    lambda: _Connection(loop), host, port, ssl=tls, server_hostname=host if tls else None
                )
        except TimeoutError:
            raise
        except OSError as exc:  # refused, unreachable, DNS (socket.gaierror), certificate (ssl.SSLError)
            raise CannotConnect(str(exc)) from None
        return conn

    def _release(self, origin: tuple[str, str, int], conn: _Connection, loop: asyncio.AbstractEventLoop) -> None:
        conn.idle_since = loop.time()
        self._idle.setdefault(origin, []).append(conn)
        if self._sweeper is None:
            self._sweeper = loop.call_later(self._keepalive, self._sweep, loop)

    def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        """Close connections idle past the keep-alive time; runs while any connection is idle."""
        self._sweeper = None
        now = loop.time()
        for origin, idle in list(self._idle.items()):
            kept = [conn for conn in idle if not conn.closed and now - conn.idle_since < self._keepalive]
            for conn in idle:
                if conn not in kept:
                    conn.close()
            if kept:
                self._idle[origin] = kept
            else:
                del self._idle[origin]
        if self._idle:
            self._sweeper = loop.call_later(self._keepalive, self._sweep, loop)


class Http1Stream:
    """One streamed response: its head, then ``read()`` until b""; ``release()`` or ``close()`` when done."""

    __slots__ = ("_conn", "_decoder", "_origin", "_pool", "_settled", "headers", "status")

    def __init__(
        self, pool: Http1Pool, origin: tuple[str, str, int], conn: _Connection, status: int, headers: CIMultiDictProxy[str]
    ) -> None:
        self._pool = pool
        self._origin = origin
        self._conn = conn
        self.status = status
        self.headers = headers
        self._settled = False
        coding = (headers.get("content-encoding") or "").strip().lower()
        self._decoder: Any = None
        if coding in ("gzip", "x-gzip"):
            self._decoder = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        elif coding == "deflate":
            self._decoder = coding  # zlib-wrapped or raw: told by the first byte

    async def read(self) -> bytes:
        """The next decoded body bytes as they arrive; b"" at the end (the connection then goes back to the pool)."""
        while True:
            decoder = self._decoder
            if decoder is not None and not isinstance(decoder, str) and decoder.unconsumed_tail:
                out = self._decompress(decoder.unconsumed_tail)
                if out:
                    return out
            raw = await self._conn.next_body()
            if not raw:
                if decoder is not None and not isinstance(decoder, str) and not decoder.eof:
                    raise BrokenBody()
                self._settle()
                return b""
            if decoder is None:
                return raw
            if isinstance(decoder, str):
                self._decoder = zlib.decompressobj(wbits=zlib.MAX_WBITS if raw[0] & 0x0F == 8 else -zlib.MAX_WBITS)
            out = self._decompress(raw)
            if out:
                return out

    async def read_all(self, limit: int = MAX_BODY_BYTES) -> bytes:
        """The rest of the body, decoded; past ``limit`` bytes it is refused (the stream is closed)."""
        pieces, size = [], 0
        while piece := await self.read():
            size += len(piece)
            if size > limit:
                self.close()
                raise UnreadableResponse("response body too large")
            pieces.append(piece)
        return b"".join(pieces)

    def _decompress(self, data: bytes) -> bytes:
        try:
            return bytes(self._decoder.decompress(data, _PIECE_BYTES))  # bounded: a small body may inflate hugely
        except zlib.error:
            self.close()
            raise BrokenBody() from None

    def release(self) -> None:
        """Done at its last event: the connection is pooled once its body has ended (read or drained)."""
        if self._settled:
            return
        conn = self._conn
        if conn.in_body and not conn.closed and conn._keep_alive:
            self._settled = True
            conn.drain(lambda c: self._pool._settle(self._origin, c))
        else:
            self._settle()

    def close(self) -> None:
        """Abandoned: the connection is closed, never pooled half-read."""
        if not self._settled:
            self._conn.close()
            self._settle()

    def _settle(self) -> None:
        if not self._settled:
            self._settled = True
            self._pool._settle(self._origin, self._conn)


def _closing(conn: _Connection) -> bool:
    return conn.transport is None or conn.transport.is_closing()


def _split(url: str) -> _Target:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise CannotConnect(f"not an http(s) URL: {scheme}")
    default_port = 443 if scheme == "https" else 80
    port = parts.port or default_port
    host = parts.hostname
    shown = f"[{host}]" if ":" in host else host
    host_header = shown if port == default_port else f"{shown}:{port}"
    path = parts.path or "/"
    target = f"{path}?{parts.query}" if parts.query else path
    if _UNSAFE_IN_TARGET.search(target):  # spaces, controls, non-ASCII: percent-encode, keep existing escapes
        target = quote(target, safe="/:@!$&'()*+,;=?%-._~")
    return _Target((scheme, host, port), f" {target} HTTP/1.1\r\n".encode("ascii"), f"Host: {host_header}\r\n")


def _head(method: str, target: _Target, headers: Mapping[str, str], length: int) -> bytes:
    """The request head; the caller's headers win over the defaults (Host too: SigV4 signs it)."""
    lines = []
    given = set()
    for name, value in headers.items():
        lower = name.lower()
        if lower != "content-length":  # ours is the body's
            given.add(lower)
            lines.append(f"{name}: {value}\r\n")
    if "host" not in given:
        lines.append(target.host_line)
    if "accept-encoding" not in given:
        lines.append("Accept-Encoding: gzip, deflate\r\n")
    if "user-agent" not in given:
        lines.append(_USER_AGENT_LINE)
    if "accept" not in given:
        lines.append("Accept: */*\r\n")
    lines.append(f"Content-Length: {length}\r\n\r\n")
    text = "".join(lines)
    # A line break or NUL inside a name or value would smuggle a header (or a request) in;
    # aiohttp refused such a value with ValueError, and so does this (a line each, one blank).
    breaks = len(lines) + 1
    if text.count("\n") != breaks or text.count("\r") != breaks or "\x00" in text:
        raise UnreadableResponse("a request header carries a line break")
    return method.encode("ascii") + target.request_line + text.encode("utf-8")


def _decoded(data: bytes, encoding: str) -> bytes:
    """Undo gzip / deflate (zlib-wrapped or raw, as aiohttp accepts); any other coding is left as sent."""
    coding = encoding.strip().lower()
    if coding in ("gzip", "x-gzip"):
        wbits = 16 + zlib.MAX_WBITS
    elif coding == "deflate":
        wbits = zlib.MAX_WBITS if data[0] & 0x0F == 8 else -zlib.MAX_WBITS
    else:
        return data
    decoder: Any = zlib.decompressobj(wbits=wbits)
    try:
        # At most one byte past the limit is inflated: a small body that inflates to gigabytes
        # stops there instead of taking the memory.
        out = decoder.decompress(data, MAX_BODY_BYTES + 1)
        if len(out) > MAX_BODY_BYTES or decoder.unconsumed_tail:
            raise UnreadableResponse("response body too large once decoded")
        out += decoder.flush()
    except zlib.error:
        raise BrokenBody() from None
    if not decoder.eof:
        raise BrokenBody()
    if len(out) > MAX_BODY_BYTES:
        raise UnreadableResponse("response body too large once decoded")
    return bytes(out)
