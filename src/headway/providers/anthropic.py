"""Adapter for the Anthropic Messages API (``POST {base_url}/v1/messages``).

Requests arrive in OpenAI's shape and are translated by ``_anthropic_translate``; this
module only does the HTTP: sessions, SSE framing, timeouts and error classification. Like
the OpenAI adapter, a stream always ends with a usage chunk (``choices: []``) so every
request can be costed; the API layer hides it from clients that did not ask for it.
"""

from __future__ import annotations

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
from headway.providers._http import PooledSession, post_json_object, upstream_error_from_response
from headway.providers._sse import DEFAULT_MAX_EVENT_BYTES, SSEDecoder, SSEEvent
from headway.providers._stream import UpstreamStream, open_stream
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
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
    ) -> None:
        self.name = name
        self._max_event_bytes = max_event_bytes
        base = base_url.rstrip("/")
        # Tolerate an OpenAI-style base URL that already ends in /v1.
        self._url = f"{base.removesuffix('/v1')}/v1/messages"
        self._headers = {"content-type": "application/json", "anthropic-version": api_version, **(headers or {})}
        if api_key:
            self._headers["x-api-key"] = api_key
        self._default_max_tokens = default_max_tokens
        self._pool = PooledSession()

    def _http(self) -> aiohttp.ClientSession:
        return self._pool.get()

    async def close(self) -> None:
        await self._pool.close()

    def _payload(self, request: JSON, model: str) -> JSON:
        return request_to_anthropic(request, model=model, default_max_tokens=self._default_max_tokens)

    async def chat(self, request: JSON, *, model: str, timeouts: Timeouts) -> ChatResult:
        reply = await post_json_object(
            self._pool,
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
        translator = StreamTranslator(created=int(time.time()))
        async with open_stream(
            self._pool,
            self._url,
            data=orjson.dumps({**self._payload(request, model), "stream": True}),
            headers=self._headers,
            timeouts=timeouts,
            decoder=SSEDecoder(max_event_bytes=self._max_event_bytes),
            error_from_response=anthropic_error_from_response,
        ) as stream:
            async for chunk in translate_anthropic_stream(stream, translator):
                yield chunk
            if not translator.finished:
                raise stream.cut_error("message_stop")


async def translate_anthropic_stream(
    stream: UpstreamStream[SSEEvent], translator: StreamTranslator
) -> AsyncIterator[StreamEvent]:
    """OpenAI chunks from an Anthropic SSE stream, until ``message_stop`` (shared with Claude on Vertex)."""
    async for frame in stream:
        event = decode_stream_event(frame.event, frame.data.encode())
        chunks = translator.feed(event)
        if event["type"] not in ("message_start", "ping"):
            # message_start comes before generation begins; the first token is what follows it.
            stream.content_started()
        for chunk in chunks:
            usage = translator.usage if "usage" in chunk else None
            yield StreamEvent(chunk=chunk, usage=usage)
        if translator.finished:
            return


def anthropic_error_from_response(status: int, headers: Any, raw: bytes) -> UpstreamError:
    """``_http``'s classification, corrected by the error ``type`` Anthropic puts in its body."""
    error = upstream_error_from_response(status, headers, raw)
    kind = error_kind(error.body)
    if kind is None or kind == error.kind:
        return error
    return UpstreamError(kind, error.message, status=status, retry_after=error.retry_after, body=error.body)
