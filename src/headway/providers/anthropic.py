"""Adapter for the Anthropic Messages API (``POST {base_url}/v1/messages``).

Requests arrive in OpenAI's shape and are translated by ``_anthropic_translate``; this
module only does the HTTP: sessions, SSE framing, timeouts and error classification. Like
the OpenAI adapter, a stream always ends with a usage chunk (``choices: []``) so every
request can be costed; the API layer hides it from clients that did not ask for it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import orjson

from headway.errors import UpstreamError
from headway.providers._anthropic_translate import (
    StreamTranslator,
    decode_stream_event,
    error_kind,
    request_to_anthropic,
    response_to_openai,
)
from headway.providers._http import (
    client_timeout,
    new_session,
    post_json_object,
    upstream_error_from_exception,
    upstream_error_from_response,
)
from headway.providers.base import ChatResult, StreamEvent, Timeouts
from headway.types import JSON, Usage


class AnthropicProvider:
    def __init__(
        self,
        name: str,
        *,
        base_url: str,
        api_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        api_version: str = "2023-06-01",
        default_max_tokens: int = 4096,
    ) -> None:
        self.name = name
        base = base_url.rstrip("/")
        # Tolerate an OpenAI-style base URL that already ends in /v1.
        self._url = f"{base.removesuffix('/v1')}/v1/messages"
        self._headers = {"content-type": "application/json", "anthropic-version": api_version, **(headers or {})}
        if api_key:
            self._headers["x-api-key"] = api_key
        self._default_max_tokens = default_max_tokens
        self._session: aiohttp.ClientSession | None = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = new_session()
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _payload(self, request: JSON, model: str) -> JSON:
        return request_to_anthropic(request, model=model, default_max_tokens=self._default_max_tokens)

    async def chat(self, request: JSON, *, model: str, timeouts: Timeouts) -> ChatResult:
        reply = await post_json_object(
            self._http(),
            self._url,
            self._payload(request, model),
            headers=self._headers,
            timeouts=timeouts,
            error_from_response=anthropic_error_from_response,
        )
        if reply.body.get("type") == "error":
            raise anthropic_error_from_response(502, reply.headers, reply.raw)
        converted = response_to_openai(reply.body, created=int(time.time()))
        return ChatResult(body=converted, usage=Usage.from_openai(converted["usage"]), status=reply.status)

    async def embeddings(self, request: JSON, *, model: str, timeouts: Timeouts) -> ChatResult:
        raise UpstreamError("client_error", f"provider {self.name!r} (Anthropic) does not offer embeddings", status=400)

    async def chat_stream(self, request: JSON, *, model: str, timeouts: Timeouts) -> AsyncIterator[StreamEvent]:
        data = orjson.dumps({**self._payload(request, model), "stream": True})
        started = time.monotonic()
        deadline = started + timeouts.total if timeouts.total is not None else None
        # An absolute first-token deadline, so pings before the first token cannot stretch it.
        first_token_deadline = started + timeouts.first_token if timeouts.first_token is not None else None
        translator = StreamTranslator(created=int(time.time()))
        sse = SSEDecoder()
        phase = "first token"
        try:
            async with self._http().post(
                self._url,
                data=data,
                headers=self._headers,
                # sock_read bounds the wait for the response head; finer limits apply per line below.
                timeout=client_timeout(timeouts.connect, _max_timeout(timeouts.first_token, timeouts.idle), None),
            ) as resp:
                if resp.status >= 400:
                    raise anthropic_error_from_response(resp.status, resp.headers, await resp.read())
                content = resp.content
                while True:
                    if phase == "first token":
                        wait = _seconds_until(first_token_deadline, deadline)
                    else:
                        wait = _seconds_until(time.monotonic() + timeouts.idle if timeouts.idle else None, deadline)
                    async with asyncio.timeout(wait):
                        line = await content.readline()
                    if not line:
                        raise UpstreamError("stream_cut", "stream ended before message_stop")
                    frame = sse.feed_line(line)
                    if frame is None:
                        continue
                    event = decode_stream_event(*frame)
                    chunks = translator.feed(event)
                    if event["type"] not in ("message_start", "ping"):
                        # message_start comes before generation begins; the first token is what follows it.
                        phase = "stream"
                    for chunk in chunks:
                        usage = translator.usage if "usage" in chunk else None
                        yield StreamEvent(chunk=chunk, usage=usage)
                    if translator.finished:
                        return
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise upstream_error_from_exception(exc, phase=phase) from exc


class SSEDecoder:
    """Server-sent events, one line at a time: ``event:`` and ``data:`` lines until a blank line.

    ``feed_line`` returns ``(event name, data)`` when a blank line completes an event with
    data; comments and unknown fields are skipped, and an unfinished event at end of stream
    is discarded, as the SSE specification requires.
    """

    def __init__(self) -> None:
        self._event = ""
        self._data: list[bytes] = []

    def feed_line(self, line: bytes) -> tuple[str, bytes] | None:
        line = line.rstrip(b"\r\n")
        if not line:
            event, data = self._event or "message", self._data
            self._event, self._data = "", []
            return (event, b"\n".join(data)) if data else None
        if line.startswith(b":"):
            return None
        name, _, value = line.partition(b":")
        value = value.removeprefix(b" ")
        if name == b"event":
            self._event = value.decode("utf-8", "replace")
        elif name == b"data":
            self._data.append(value)
        return None


def anthropic_error_from_response(status: int, headers: Any, raw: bytes) -> UpstreamError:
    """``_http``'s classification, corrected by the error ``type`` Anthropic puts in its body."""
    error = upstream_error_from_response(status, headers, raw)
    kind = error_kind(error.body)
    if kind is None or kind == error.kind:
        return error
    return UpstreamError(kind, error.message, status=status, retry_after=error.retry_after, body=error.body)


def _seconds_until(step_deadline: float | None, deadline: float | None) -> float | None:
    ends = [d for d in (step_deadline, deadline) if d is not None]
    return max(0.0, min(ends) - time.monotonic()) if ends else None


def _max_timeout(a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return None
    return max(a, b)
