"""Adapter for Google Vertex AI: Gemini models natively, Claude models in Anthropic's format.

Every call carries a service account's access token (``_google_auth``), refreshed before
its hourly expiry. Models whose name starts with ``claude`` are Anthropic's, served at
``…/publishers/anthropic/models/{model}:rawPredict`` / ``:streamRawPredict`` with the
Anthropic Messages body (``model`` moved to the path, ``anthropic_version:
vertex-2023-10-16``) and translated by the same code as the Anthropic adapter; every
other model is Gemini at ``…/publishers/google/models/{model}:generateContent``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson

from headway.errors import UpstreamError
from headway.providers._anthropic_translate import StreamTranslator, request_to_anthropic
from headway.providers._anthropic_translate import response_to_openai as anthropic_response_to_openai
from headway.providers._google_auth import ServiceAccountCredential
from headway.providers._http import PooledSession, post_json_object
from headway.providers._sse import DEFAULT_MAX_EVENT_BYTES, SSEDecoder
from headway.providers._stream import open_stream
from headway.providers._tokens import refused
from headway.providers.anthropic import anthropic_error_from_response, translate_anthropic_stream
from headway.providers.base import ChatResult, StreamEvent, Timeouts
from headway.providers.gemini import GeminiProvider, gemini_error_from_response
from headway.types import JSON, Usage

VERTEX_ANTHROPIC_VERSION = "vertex-2023-10-16"


class VertexProvider:
    def __init__(
        self,
        name: str,
        *,
        base_url: str,
        project: str,
        region: str,
        credential: ServiceAccountCredential,
        headers: Mapping[str, str] | None = None,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        default_max_tokens: int = 4096,
    ) -> None:
        self.name = name
        self._credential = credential
        self._headers = dict(headers or {})
        self._max_event_bytes = max_event_bytes
        self._default_max_tokens = default_max_tokens
        self._location_url = f"{base_url.rstrip('/')}/v1/projects/{quote(project, safe='')}/locations/{quote(region, safe='')}"
        self._pool = PooledSession()
        self._gemini = GeminiProvider(
            name,
            models_url=f"{self._location_url}/publishers/google/models",
            auth=self._bearer,
            headers=headers,
            max_event_bytes=max_event_bytes,
            pool=self._pool,
        )

    def _http(self) -> aiohttp.ClientSession:
        return self._pool.get()

    async def close(self) -> None:
        await self._pool.close()

    async def _bearer(self, session: aiohttp.ClientSession) -> Mapping[str, str]:
        return {"authorization": f"Bearer {await self._credential.cache.get(session)}"}

    @staticmethod
    def _is_claude(model: str) -> bool:
        return model.lower().startswith("claude")

    def _claude_url(self, model: str, method: str) -> str:
        return f"{self._location_url}/publishers/anthropic/models/{quote(model, safe='@')}:{method}"

    def _claude_payload(self, request: JSON, model: str) -> JSON:
        payload = request_to_anthropic(request, model=model, default_max_tokens=self._default_max_tokens)
        payload.pop("model")
        return {"anthropic_version": VERTEX_ANTHROPIC_VERSION, **payload}

    async def _claude_headers(self) -> dict[str, str]:
        return {"content-type": "application/json", **self._headers, **(await self._bearer(self._http()))}

    async def chat(self, request: JSON, *, model: str, timeouts: Timeouts) -> ChatResult:
        try:
            return await self._chat(request, model=model, timeouts=timeouts)
        except UpstreamError as exc:
            if refused(exc):
                self._credential.cache.invalidate()  # revoked or expired early: fetch a new token next time
            raise

    async def _chat(self, request: JSON, *, model: str, timeouts: Timeouts) -> ChatResult:
        if not self._is_claude(model):
            return await self._gemini.chat(request, model=model, timeouts=timeouts)
        reply = await post_json_object(
            self._pool,
            self._claude_url(model, "rawPredict"),
            self._claude_payload(request, model),
            headers=await self._claude_headers(),
            timeouts=timeouts,
            error_from_response=_claude_error,
        )
        if reply.body.get("type") == "error":
            raise _claude_error(502, reply.headers, reply.raw)
        converted = anthropic_response_to_openai(reply.body, created=int(time.time()))
        return ChatResult(body=converted, usage=Usage.from_openai(converted["usage"]), status=reply.status)

    async def embeddings(self, request: JSON, *, model: str, timeouts: Timeouts) -> ChatResult:
        return await self._gemini.embeddings(request, model=model, timeouts=timeouts)

    async def chat_stream(self, request: JSON, *, model: str, timeouts: Timeouts) -> AsyncIterator[StreamEvent]:
        try:
            async for event in self._chat_stream(request, model=model, timeouts=timeouts):
                yield event
        except UpstreamError as exc:
            if refused(exc):
                self._credential.cache.invalidate()
            raise

    async def _chat_stream(self, request: JSON, *, model: str, timeouts: Timeouts) -> AsyncIterator[StreamEvent]:
        if not self._is_claude(model):
            async for event in self._gemini.chat_stream(request, model=model, timeouts=timeouts):
                yield event
            return
        translator = StreamTranslator(created=int(time.time()))
        async with open_stream(
            self._pool,
            self._claude_url(model, "streamRawPredict"),
            data=orjson.dumps({**self._claude_payload(request, model), "stream": True}),
            headers=await self._claude_headers(),
            timeouts=timeouts,
            decoder=SSEDecoder(max_event_bytes=self._max_event_bytes),
            error_from_response=_claude_error,
        ) as stream:
            async for chunk in translate_anthropic_stream(stream, translator):
                yield chunk
            if not translator.finished:
                raise stream.cut_error("message_stop")


def _claude_error(status: int, headers: Any, raw: bytes) -> UpstreamError:
    """Anthropic's error body when Claude answered, Google's when Vertex itself refused."""
    error = anthropic_error_from_response(status, headers, raw)
    if isinstance(error.body, dict) and error.body.get("type") == "error":
        return error
    return gemini_error_from_response(status, headers, raw)
