"""Adapter for any OpenAI-compatible server (OpenAI, vLLM, Ollama, llama.cpp, the simulator).

The request is already in OpenAI's shape, so this adapter forwards it with the
deployment's model name, keeping unknown fields intact. For streams it always asks the
upstream for usage (``stream_options.include_usage``) so every request can be costed,
and hides that final chunk from clients that did not ask for it (the API layer decides).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import aiohttp
import orjson

from headway.errors import UpstreamError
from headway.providers._http import PooledSession, post_json_object, upstream_error_from_response
from headway.providers._responses_wire import NATIVE_REQUEST, NativeStream, chat_completion, native_request
from headway.providers._sse import DEFAULT_MAX_EVENT_BYTES, SSEDecoder
from headway.providers._stream import open_stream
from headway.providers.base import ChatResult, StreamEvent, Timeouts
from headway.types import JSON, Usage


class OpenAIProvider:
    def __init__(
        self,
        name: str,
        *,
        base_url: str,
        api_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        native_responses: bool = False,
    ) -> None:
        self.name = name
        # ``responses: native``: requests that came from /v1/responses go to the provider's own
        # /v1/responses (``_responses_wire``); chat requests still go to chat/completions.
        self.native_responses = native_responses
        self._max_event_bytes = max_event_bytes
        self._base_url = base_url.rstrip("/")
        self._headers = {"content-type": "application/json", **(headers or {})}
        if api_key:
            self._headers["authorization"] = f"Bearer {api_key}"
        self._pool = PooledSession()

    def _http(self) -> aiohttp.ClientSession:
        return self._pool.get()

    async def close(self) -> None:
        await self._pool.close()

    def _url(self, operation: str, model: str) -> str:
        """Where ``operation`` (``chat/completions``, ``embeddings``) is posted; Azure overrides it."""
        return f"{self._base_url}/{operation}"

    async def _request_headers(self) -> Mapping[str, str]:
        """Headers of every call; Azure overrides it to add a fresh Entra token."""
        return self._headers

    async def _post_json(self, operation: str, payload: JSON, model: str, timeouts: Timeouts) -> ChatResult:
        reply = await post_json_object(
            self._pool,
            self._url(operation, model),
            payload,
            headers=await self._request_headers(),
            timeouts=timeouts,
            error_from_response=upstream_error_from_response,
        )
        body = reply.body
        if "error" in body and "choices" not in body and "data" not in body:
            raise upstream_error_from_response(502, reply.headers, reply.raw)
        return ChatResult(body=body, usage=Usage.from_openai(body.get("usage")), status=reply.status)

    async def chat(self, request: JSON, *, model: str, timeouts: Timeouts) -> ChatResult:
        if self.native_responses and NATIVE_REQUEST in request:
            return await self._responses(request, model, timeouts)
        payload = {**request, "model": model}
        payload.pop(NATIVE_REQUEST, None)  # Headway's own side channel never goes upstream
        payload.pop("stream", None)
        payload.pop("stream_options", None)
        result = await self._post_json("chat/completions", payload, model, timeouts)
        if not isinstance(result.body.get("choices"), list):
            raise UpstreamError("bad_response", "provider response has no choices list", status=result.status)
        return result

    async def embeddings(self, request: JSON, *, model: str, timeouts: Timeouts) -> ChatResult:
        result = await self._post_json("embeddings", {**request, "model": model}, model, timeouts)
        if not isinstance(result.body.get("data"), list):
            raise UpstreamError("bad_response", "provider response has no data list", status=result.status)
        return result

    async def _responses(self, request: JSON, model: str, timeouts: Timeouts) -> ChatResult:
        reply = await post_json_object(
            self._pool,
            self._url("responses", model),
            native_request(request, model, stream=False),
            headers=await self._request_headers(),
            timeouts=timeouts,
            error_from_response=upstream_error_from_response,
        )
        if "error" in reply.body and reply.body.get("object") != "response":
            raise upstream_error_from_response(502, reply.headers, reply.raw)
        body, usage = chat_completion(reply.body)
        return ChatResult(body=body, usage=usage, status=reply.status)

    async def chat_stream(self, request: JSON, *, model: str, timeouts: Timeouts) -> AsyncIterator[StreamEvent]:
        if self.native_responses and NATIVE_REQUEST in request:
            async for native in self._responses_stream(request, model, timeouts):
                yield native
            return
        payload = {**request, "model": model, "stream": True}
        payload.pop(NATIVE_REQUEST, None)
        payload["stream_options"] = {**(request.get("stream_options") or {}), "include_usage": True}
        async with open_stream(
            self._pool,
            self._url("chat/completions", model),
            data=orjson.dumps(payload),
            headers=await self._request_headers(),
            timeouts=timeouts,
            decoder=SSEDecoder(max_event_bytes=self._max_event_bytes),
            error_from_response=upstream_error_from_response,
        ) as stream:
            async for event in stream:
                if event.data.strip() == "[DONE]":
                    return
                chunk = openai_chunk(event.data)
                stream.content_started()
                usage = chunk.get("usage")
                yield StreamEvent(chunk=chunk, usage=Usage.from_openai(usage) if usage else None)
            raise stream.cut_error("[DONE]")

    async def _responses_stream(self, request: JSON, model: str, timeouts: Timeouts) -> AsyncIterator[StreamEvent]:
        """The provider's Responses events as chat chunks, each event riding on its last chunk."""
        translator = NativeStream(model)
        async with open_stream(
            self._pool,
            self._url("responses", model),
            data=orjson.dumps(native_request(request, model, stream=True)),
            headers=await self._request_headers(),
            timeouts=timeouts,
            decoder=SSEDecoder(max_event_bytes=self._max_event_bytes),
            error_from_response=upstream_error_from_response,
        ) as stream:
            async for frame in stream:
                chunks, usage = translator.feed(responses_event(frame.data))
                stream.content_started()
                for index, chunk in enumerate(chunks):
                    yield StreamEvent(chunk=chunk, usage=usage if index == len(chunks) - 1 else None)
                if translator.done:
                    return
            raise stream.cut_error("response.completed")


def openai_chunk(data: str) -> JSON:
    """One ``chat.completion.chunk`` from an SSE event's data; an error event raises."""
    try:
        chunk = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise UpstreamError("bad_response", "the provider's stream carried a chunk that is not JSON") from None
    if not isinstance(chunk, dict):
        raise UpstreamError("bad_response", "the provider's stream carried a chunk that is not a JSON object")
    if "error" in chunk and "choices" not in chunk:
        err = chunk["error"] if isinstance(chunk["error"], dict) else {"message": str(chunk["error"])}
        raise UpstreamError("server_error", str(err.get("message", "error in stream")), body=chunk)
    return chunk


def responses_event(data: str) -> JSON:
    """One Responses stream event from an SSE event's data."""
    try:
        event = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise UpstreamError("bad_response", "the provider's stream carried an event that is not JSON") from None
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise UpstreamError("bad_response", "the provider's stream carried an event without a type")
    return event
