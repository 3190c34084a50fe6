"""Adapter for Amazon Bedrock's Converse and ConverseStream APIs, signed with SigV4.

``POST {base}/model/{modelId}/converse`` and ``/converse-stream`` (the model id is
percent-encoded: ``anthropic.claude-3-haiku-20240307-v1:0`` is sent as ``…v1%3A0``).
Converse covers every Bedrock chat model, Anthropic's included, so one adapter serves
them all. Credentials come from the standard AWS chain at each call (``_aws_credentials``)
and every request is signed for service ``bedrock`` in the configured region. Streams are
AWS's binary event stream, decoded by ``_eventstream`` under the same deadlines and error
mapping as every other adapter (``_stream``).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
import orjson
from yarl import URL

from headway.errors import UpstreamError
from headway.providers._anthropic_translate import StreamTranslator
from headway.providers._aws_credentials import AwsCredentialChain
from headway.providers._bedrock_translate import (
    ConverseStreamTranslator,
    error_kind,
    request_to_converse,
    response_to_openai_from_converse,
)
from headway.providers._eventstream import DEFAULT_MAX_MESSAGE_BYTES, EventStreamDecoder
from headway.providers._http import PooledSession, post_json_object, upstream_error_from_response
from headway.providers._sigv4 import sign
from headway.providers._stream import open_stream
from headway.providers.base import ChatResult, StreamEvent, Timeouts
from headway.types import JSON, Usage

SERVICE = "bedrock"


def bedrock_error_from_response(status: int, headers: Any, raw: bytes) -> UpstreamError:
    """``_http``'s classification, corrected by the exception name AWS sends in ``x-amzn-ErrorType``."""
    error = upstream_error_from_response(status, headers, raw)
    exception = headers.get("x-amzn-ErrorType", "") if headers is not None else ""
    kind = error_kind(exception) if exception else None
    message = error.message.lower()
    if kind == "client_error" and ("too long" in message or "too many input tokens" in message):
        kind = "context_window"
    if kind is None or kind == error.kind:
        return error
    return UpstreamError(kind, error.message, status=status, retry_after=error.retry_after, body=error.body)


class BedrockProvider:
    def __init__(
        self,
        name: str,
        *,
        region: str,
        base_url: str | None = None,
        credentials: AwsCredentialChain | None = None,
        headers: Mapping[str, str] | None = None,
        max_event_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.name = name
        self._region = region
        self._base_url = (base_url or f"https://bedrock-runtime.{region}.amazonaws.com").rstrip("/")
        self._host = urlsplit(self._base_url).netloc
        self._credentials = credentials or AwsCredentialChain()
        self._headers = dict(headers or {})
        self._max_event_bytes = max_event_bytes
        self._clock = clock
        self._pool = PooledSession()

    def _http(self) -> aiohttp.ClientSession:
        return self._pool.get()

    async def close(self) -> None:
        await self._pool.close()

    def _url(self, model: str, operation: str) -> URL:
        # encoded=True: sent exactly as signed (yarl would otherwise decode %3A back to ':').
        return URL(f"{self._base_url}/model/{quote(model, safe='')}/{operation}", encoded=True)

    def _signed(self, url: URL, body: bytes, accept: str) -> dict[str, str]:
        headers = {"host": self._host, "content-type": "application/json", "accept": accept}
        signed = sign(
            method="POST",
            url=str(url),
            headers=headers,
            body=body,
            credentials=self._credentials.resolve(),
            region=self._region,
            service=SERVICE,
            amz_date=self._clock().strftime("%Y%m%dT%H%M%SZ"),
        )
        return {**self._headers, **signed}

    async def chat(self, request: JSON, *, model: str, timeouts: Timeouts) -> ChatResult:
        url = self._url(model, "converse")
        body = orjson.dumps(request_to_converse(request))
        reply = await post_json_object(
            self._pool,
            url,
            orjson.Fragment(body),
            headers=self._signed(url, body, "application/json"),
            timeouts=timeouts,
            error_from_response=bedrock_error_from_response,
        )
        converted = response_to_openai_from_converse(
            reply.body, model=model, request_id=reply.headers.get("x-amzn-RequestId"), created=int(time.time())
        )
        return ChatResult(body=converted, usage=Usage.from_openai(converted["usage"]), status=reply.status)

    async def embeddings(self, request: JSON, *, model: str, timeouts: Timeouts) -> ChatResult:
        raise UpstreamError("client_error", f"provider {self.name!r} (Bedrock Converse) does not offer embeddings", status=400)

    async def chat_stream(self, request: JSON, *, model: str, timeouts: Timeouts) -> AsyncIterator[StreamEvent]:
        url = self._url(model, "converse-stream")
        body = orjson.dumps(request_to_converse(request))
        translator = StreamTranslator(created=int(time.time()))
        async with open_stream(
            self._pool,
            url,
            data=body,
            headers=self._signed(url, body, "application/vnd.amazon.eventstream"),
            timeouts=timeouts,
            decoder=EventStreamDecoder(max_event_bytes=self._max_event_bytes),
            error_from_response=bedrock_error_from_response,
        ) as stream:
            converse = ConverseStreamTranslator(model=model, request_id=None)
            async for message in stream:
                message_type = message.header(":message-type")
                if message_type == "exception" or message_type == "error":
                    raise _stream_exception(message.header(":exception-type") or message.header(":error-code"), message.payload)
                for event in converse.feed(message.header(":event-type"), message.payload):
                    if event["type"] == "content_block_delta":
                        stream.content_started()
                    for chunk in translator.feed(event):
                        yield StreamEvent(chunk=chunk, usage=translator.usage if "usage" in chunk else None)
                if translator.finished:
                    return
            raise stream.cut_error("metadata" if converse.stopped else "messageStop")


def _stream_exception(name: str, payload: bytes) -> UpstreamError:
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError:
        body = None
    message = body.get("message") if isinstance(body, dict) and isinstance(body.get("message"), str) else ""
    kind = error_kind(name) or "server_error"
    return UpstreamError(kind, message or f"Bedrock stream exception {name or 'without a name'}", body=body)
