"""Shared HTTP plumbing for provider adapters: pooled sessions and error classification."""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from yarl import URL

from headway.errors import UpstreamError, UpstreamKind
from headway.providers._http1 import BrokenBody, CannotConnect, Http1Pool
from headway.providers.base import Timeouts


def new_session(*, max_connections: int = 0) -> aiohttp.ClientSession:
    """A keep-alive pooled session; one per provider so pools and limits stay separate."""
    connector = aiohttp.TCPConnector(
        limit=max_connections,  # 0 = unbounded; admission control bounds concurrency instead
        keepalive_timeout=30,
        ttl_dns_cache=300,
        enable_cleanup_closed=False,
    )
    # auto_decompress stays on; raise_for_status off: we classify statuses ourselves.
    # No cookie jar: one session serves every caller, so a cookie an upstream set for one
    # caller's request would ride along on everyone else's (and nothing here wants cookies).
    return aiohttp.ClientSession(
        connector=connector, json_serialize=lambda o: orjson.dumps(o).decode(), cookie_jar=aiohttp.DummyCookieJar()
    )


class PooledSession:
    """A provider's keep-alive pools, opened on first use (inside the event loop), reopened after close.

    Two pools: whole JSON calls (``post_json_object``) and streams (``_stream.open_stream``)
    go through the lean HTTP/1.1 client (``_http1``, ~130 µs less CPU per call than
    aiohttp's); token fetches and anything else a provider sends take the aiohttp session
    from ``get()``.
    """

    __slots__ = ("_lean", "_session")

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._lean: Http1Pool | None = None

    def get(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = new_session()
        return self._session

    def lean(self) -> Http1Pool:
        if self._lean is None or self._lean.closed:
            self._lean = Http1Pool()
        return self._lean

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._lean is not None:
            await self._lean.close()
            self._lean = None


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` (delta-seconds or HTTP date) or ``retry-after-ms`` value."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    parsed = email.utils.parsedate_to_datetime(value) if value else None
    if parsed is None:
        return None
    return max(0.0, parsed.timestamp() - time.time())


def retry_after_from(headers: Any) -> float | None:
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    try:
        return parse_retry_after(headers.get("retry-after"))
    except (TypeError, ValueError):
        return None


def classify_status(status: int, body: Any) -> UpstreamKind:
    """Map a provider's non-2xx status (and error body) onto an ``UpstreamKind``."""
    if status == 429:
        return "rate_limit"
    if status >= 500:
        return "server_error"
    if status in (401, 403):
        return "auth"
    text = orjson.dumps(body).decode().lower() if body is not None else ""
    if "context_length" in text or "context window" in text or "too many tokens" in text or "prompt is too long" in text:
        return "context_window"
    if "content_filter" in text or "content_policy" in text or "safety" in text:
        return "content_filter"
    if status == 408:
        return "timeout"
    return "client_error"


def error_message(body: Any, fallback: str) -> str:
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return str(err["message"])
        if isinstance(err, str):
            return err
        if isinstance(body.get("message"), str):
            return str(body["message"])
    return fallback


def decode_json_body(raw: bytes) -> Any:
    try:
        return orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        return None


def upstream_error_from_response(status: int, headers: Any, raw: bytes) -> UpstreamError:
    body = decode_json_body(raw)
    kind = classify_status(status, body)
    message = error_message(body, raw[:300].decode("utf-8", "replace") or f"HTTP {status}")
    return UpstreamError(kind, message, status=status, retry_after=retry_after_from(headers), body=body)


def upstream_error_from_exception(exc: BaseException, *, phase: str) -> UpstreamError:
    """Translate a transport exception into an ``UpstreamError``; ``phase`` names where it happened.

    Messages are Headway's own words: a transport library's exception text names its
    internals (parser states, buffer limits), which means nothing to an operator.
    """
    if isinstance(exc, UpstreamError):
        return exc
    streaming = phase == "stream"
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return UpstreamError("timeout", f"timed out waiting for {phase}")
    if isinstance(exc, aiohttp.ClientPayloadError | BrokenBody):
        # Truncated chunked encoding, short Content-Length, broken compression.
        return UpstreamError("stream_cut" if streaming else "bad_response", f"the provider's response body broke off during {phase}")
    if isinstance(exc, aiohttp.ClientConnectorError | CannotConnect):
        return UpstreamError("connection", "cannot connect to the provider")
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError | ConnectionError | OSError):
        return UpstreamError("stream_cut" if streaming else "connection", f"the connection to the provider was lost during {phase}")
    if isinstance(exc, aiohttp.ClientResponseError | aiohttp.ClientPayloadError | ValueError):
        # A response aiohttp or _http1 cannot parse (bad status line or headers, oversized header).
        return UpstreamError("stream_cut" if streaming else "bad_response", f"the provider sent an unreadable response during {phase}")
    return UpstreamError("stream_cut" if streaming else "connection", f"the call to the provider failed during {phase}")


def client_timeout(connect: float | None, first_byte: float | None, total: float | None) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=total, sock_connect=connect, sock_read=first_byte)


@dataclass(slots=True)
class JsonReply:
    body: dict[str, Any]
    status: int
    headers: Any
    raw: bytes


async def post_json_object(
    pool: PooledSession,
    url: str | URL,
    payload: Any,
    *,
    headers: Mapping[str, str],
    timeouts: Timeouts,
    error_from_response: Callable[[int, Any, bytes], UpstreamError],
) -> JsonReply:
    """POST ``payload`` and return the JSON object answered; every failure as an ``UpstreamError``.

    Through the pool's lean HTTP/1.1 client, with aiohttp's timeout meanings: ``connect``
    for a new connection, ``first_token`` as the longest wait for the next bytes, ``total``.
    """
    try:
        resp = await pool.lean().request(
            "POST",
            str(url),
            body=orjson.dumps(payload),
            headers=headers,
            connect_timeout=timeouts.connect,
            read_timeout=timeouts.first_token,
            total_timeout=timeouts.total,
        )
    except (TimeoutError, OSError, ValueError, BrokenBody) as exc:
        raise upstream_error_from_exception(exc, phase="response") from None
    raw = resp.body
    if resp.status >= 400:
        raise error_from_response(resp.status, resp.headers, raw)
    body = decode_json_body(raw)
    if not isinstance(body, dict):
        raise UpstreamError("bad_response", "provider returned a body that is not a JSON object", status=resp.status)
    return JsonReply(body=body, status=resp.status, headers=resp.headers, raw=raw)
