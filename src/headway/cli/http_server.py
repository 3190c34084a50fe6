"""uvicorn's httptools protocol with the connection-level limits it lacks.

httptools reads headers of any size for as long as the client likes: a 200 MB header is
buffered whole, and a connection that never finishes its headers (or its body) is held
forever. uvicorn has an idle keep-alive timeout but no header-size cap, header timeout or
body timeout for httptools (h11 has only a size cap), so the protocol below adds them and a
cap on open connections per process. Refusals are answered in the OpenAI error shape and
closed lingering, as nginx does: a socket closed while the client's bytes are still arriving
sends a reset, which can destroy the refusal before the client reads it, so the server stops
sending, reads and drops what still comes (up to ``LINGER_BYTES``, for up to ``LINGER_S``),
and closes when the client does.
Each response's head leaves in one write with its first body bytes (``head_write.py``).

``headway serve`` and ``headway.testing.GatewayThread`` both build their server through
``server_config`` so every gateway gets the same protection.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import orjson
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from headway.cli.head_write import HeadWithBody
from headway.config import ServerConfig


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    max_header_bytes: int  # request line and headers together
    header_timeout_s: float  # from connect (or a request's first byte) to the end of its headers
    body_timeout_s: float  # from the end of the headers to the end of the body
    keep_alive_timeout_s: float  # idle time between requests on one connection
    max_connections: int  # open connections per process; more are answered 503 and closed

    @classmethod
    def from_config(cls, server: ServerConfig) -> ConnectionLimits:
        return cls(
            max_header_bytes=server.max_header_bytes,
            header_timeout_s=server.header_timeout_s,
            body_timeout_s=server.body_timeout_s,
            keep_alive_timeout_s=server.keep_alive_timeout_s,
            max_connections=server.max_connections,
        )


class GuardedConfig(uvicorn.Config):
    """A uvicorn ``Config`` that carries the limits to each connection (and pickles for workers)."""

    def __init__(self, app: Any, *, limits: ConnectionLimits, **kwargs: Any) -> None:
        super().__init__(app, http=GuardedHttpProtocol, timeout_keep_alive=limits.keep_alive_timeout_s, **kwargs)  # type: ignore[arg-type]
        self.connection_limits = limits


def server_config(app: Any, server: ServerConfig, **kwargs: Any) -> GuardedConfig:
    return GuardedConfig(app, limits=ConnectionLimits.from_config(server), **kwargs)


LINGER_S = 2.0  # how long a refused connection is drained before it is closed
LINGER_BYTES = 1024 * 1024  # how much a refused client may still send before the close (then a reset)


def _refusal(status: int, message: str, code: str) -> bytes:
    body = orjson.dumps({"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}})
    phrase = HTTPStatus(status).phrase
    head = (
        f"HTTP/1.1 {status} {phrase}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class GuardedHttpProtocol(HttpToolsProtocol):
    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        if not isinstance(config, GuardedConfig):
            raise TypeError("GuardedHttpProtocol needs a GuardedConfig (headway.cli.http_server.server_config)")
        self.limits = config.connection_limits
        self._reading_headers = False
        self._header_bytes = 0  # read while the headers are incomplete
        self._header_size = 0  # of the request line and headers parsed so far
        self._deadline: asyncio.TimerHandle | None = None
        self._lingering = False  # refused: draining what the client still sends, then closing
        self._drained = 0

    @property
    def _refused(self) -> bool:
        return self._lingering or self.transport.is_closing()

    # Deadlines -----------------------------------------------------------------------------

    def _arm(self, seconds: float, status: int, message: str, code: str) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expire, status, message, code)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self, status: int, message: str, code: str) -> None:
        self._deadline = None
        self._refuse(status, message, code)

    def _refuse(self, status: int, message: str, code: str) -> None:
        if self._refused:
            return
        # Once the app has started answering, the status line is gone: only closing is left.
        if (self.cycle is not None and self.cycle.response_started) or not self.transport.can_write_eof():
            self.transport.close()
            return
        self.transport.write(_refusal(status, message, code))
        self._lingering = True
        self._disarm()
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:  # as connection_lost would: the app
            cycle.disconnected = True  # gets http.disconnect and writes nothing more
            cycle.message_event.set()
        self.transport.write_eof()  # the refusal, then FIN: the client reads it and closes
        self._deadline = self.loop.call_later(LINGER_S, self.transport.close)

    # Connection and parser callbacks -------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            self._refuse(503, "too many open connections; retry shortly", "too_many_connections")
            return
        self._start_headers()

    def _start_headers(self) -> None:
        self._reading_headers = True
        self._header_bytes = 0
        self._arm(self.limits.header_timeout_s, 408, "request headers not received in time", "header_timeout")

    def data_received(self, data: bytes) -> None:
        if self._lingering:  # refused: dropped unread, until the client closes or sends too much
            self._drained += len(data)
            if self._drained > LINGER_BYTES:
                self.transport.close()
            return
        if self.transport.is_closing():
            return
        if self._reading_headers:
            self._header_bytes += len(data)
        super().data_received(data)
        # Checked per read (at most one socket read beyond the cap is ever buffered).
        if self._reading_headers and self._header_bytes > self.limits.max_header_bytes:
            self._refuse(431, self._too_large, "request_header_fields_too_large")

    @property
    def _too_large(self) -> str:
        return f"request headers exceed {self.limits.max_header_bytes} bytes"

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if not self._reading_headers:  # the next request on a kept-alive connection
            self._start_headers()

    def on_url(self, url: bytes) -> None:
        self._header_size += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_size += len(name) + len(value) + 4  # ": " and CRLF
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._reading_headers = False
        self._header_bytes = 0
        size, self._header_size = self._header_size, 0
        if size > self.limits.max_header_bytes:  # all of it arrived in one read
            self._refuse(431, self._too_large, "request_header_fields_too_large")
            return
        self._arm(self.limits.body_timeout_s, 408, "request body not received in time", "body_timeout")
        super().on_headers_complete()
        if self.cycle is not None and self.cycle.transport is self.transport:  # this request's new cycle
            self.cycle.transport = HeadWithBody(self.transport, self.loop)  # type: ignore[assignment]

    def on_body(self, body: bytes) -> None:
        if not self._refused:  # a refused request's body is not the app's
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._lingering:
            return
        self._disarm()
        if not self.transport.is_closing():
            super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)
