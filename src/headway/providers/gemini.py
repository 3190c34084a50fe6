"""Adapter for Google's Gemini models through ``generateContent`` / ``streamGenerateContent``.

One wire format, two front doors: the Gemini API (``{base}/v1beta/models/{model}:…`` with
an ``x-goog-api-key``) and Vertex AI (``{base}/v1/projects/{project}/locations/{region}/
publishers/google/models/{model}:…`` with a service account's bearer token; built by
``vertex.py``). Streams ask for SSE (``alt=sse``) and go through the shared stream reader;
Gemini sends no terminal event, so a stream is complete only if it ended after a chunk
with a ``finishReason``, and is ``stream_cut`` otherwise.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson

from headway.errors import UpstreamError
from headway.providers._gemini_translate import (
    GeminiStreamTranslator,
    error_kind,
    request_to_gemini,
    response_to_openai,
)
from headway.providers._http import PooledSession, post_json_object, upstream_error_from_response
from headway.providers._sse import DEFAULT_MAX_EVENT_BYTES, SSEDecoder
from headway.providers._stream import open_stream
from headway.providers.base import ChatResult, StreamEvent, Timeouts
from headway.types import JSON, Usage

AuthHeaders = Callable[[aiohttp.ClientSession], Awaitable[Mapping[str, str]]]


def gemini_error_from_response(status: int, headers: Any, raw: bytes) -> UpstreamError:
    """``_http``'s classification, corrected by Google's error ``status`` and details."""
    error = upstream_error_from_response(status, headers, raw)
    kind = error_kind(error.body)
    if kind is None or kind == error.kind:
        return error
    return UpstreamError(kind, error.message, status=status, retry_after=error.retry_after, body=error.body)


class GeminiProvider:
    def __init__(
        self,
        name: str,
        *,
        models_url: str,
        auth: AuthHeaders,
        headers: Mapping[str, str] | None = None,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        pool: PooledSession | None = None,
    ) -> None:
        """``models_url`` is the URL the ``{model}:method`` suffix is appended to."""
        self.name = name
        self._models_url = models_url.rstrip("/")
        self._auth = auth
        self._headers = {"content-type": "application/json", **(headers or {})}
        self._max_event_bytes = max_event_bytes
        self._shared_pool = pool  # Vertex's, when Gemini runs inside it
        self._pool = PooledSession()

    @classmethod
    def with_api_key(cls, name: str, *, base_url: str, api_key: str, **kwargs: Any) -> GeminiProvider:
        async def key_header(session: aiohttp.ClientSession) -> Mapping[str, str]:
            return {"x-goog-api-key": api_key}

        return cls(name, models_url=f"{base_url.rstrip('/')}/v1beta/models", auth=key_header, **kwargs)

    def _http(self) -> aiohttp.ClientSession:
        return (self._shared_pool or self._pool).get()

    async def close(self) -> None:
        await self._pool.close()

    def _url(self, model: str, method: str) -> str:
        return f"{self._models_url}/{quote(model, safe='@')}:{method}"

    async def _request_headers(self) -> dict[str, str]:
        return {**self._headers, **(await self._auth(self._http()))}

    async def chat(self, request: JSON, *, model: str, timeouts: Timeouts) -> ChatResult:
        payload = request_to_gemini(request)
        reply = await post_json_object(
            self._shared_pool or self._pool,
            self._url(model, "generateContent"),
            payload,
            headers=await self._request_headers(),
            timeouts=timeouts,
            error_from_response=gemini_error_from_response,
        )
        if "error" in reply.body and "candidates" not in reply.body:
            raise gemini_error_from_response(502, reply.headers, reply.raw)
        converted = response_to_openai(reply.body, model=model, created=int(time.time()))
        return ChatResult(body=converted, usage=Usage.from_openai(converted["usage"]), status=reply.status)

    async def embeddings(self, request: JSON, *, model: str, timeouts: Timeouts) -> ChatResult:
        raise UpstreamError("client_error", f"provider {self.name!r} (Gemini) serves chat only here", status=400)

    async def chat_stream(self, request: JSON, *, model: str, timeouts: Timeouts) -> AsyncIterator[StreamEvent]:
        payload = request_to_gemini(request)
        translator = GeminiStreamTranslator(model=model, created=int(time.time()))
        async with open_stream(
            self._shared_pool or self._pool,
            self._url(model, "streamGenerateContent") + "?alt=sse",
            data=orjson.dumps(payload),
            headers=await self._request_headers(),
            timeouts=timeouts,
            decoder=SSEDecoder(max_event_bytes=self._max_event_bytes),
            error_from_response=gemini_error_from_response,
        ) as stream:
            async for event in stream:
                if translator.finish_reason is not None:
                    raise UpstreamError("bad_response", "Gemini sent more after its finishReason")
                chunks, content = translator.feed(event.data)
                if content:
                    stream.content_started()
                for chunk in chunks:
                    yield StreamEvent(chunk=chunk)
            if translator.finish_reason is None or stream.pending:
                raise stream.cut_error("a finishReason")
            yield StreamEvent(chunk=translator.finish(), usage=translator.usage)
