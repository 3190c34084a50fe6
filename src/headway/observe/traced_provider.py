"""A provider wrapper that gives every upstream call its own ``gen_ai`` client span.

Wrapping the provider, not the executor, gives each attempt exact timings whatever the
executor does (retries, hedging, fallbacks) and needs no hook in routing. It is only
installed when tracing is on, so it costs nothing otherwise.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

from headway.errors import UpstreamError
from headway.observe import genai
from headway.providers import ChatResult, Provider, StreamEvent, Timeouts
from headway.types import JSON, Usage

# Called with the attributes a successful attempt learnt, to copy them onto the request span.
OnServed = Callable[[dict[str, Any]], None]


def server_attributes(base_url: str) -> dict[str, Any]:
    parts = urlsplit(base_url)
    attributes: dict[str, Any] = {}
    if parts.hostname:
        attributes["server.address"] = parts.hostname
    port = parts.port or (443 if parts.scheme == "https" else 80 if parts.scheme == "http" else None)
    if port:
        attributes["server.port"] = port
    return attributes


def _failed(span: Span, exc: UpstreamError) -> None:
    span.set_attribute("error.type", exc.kind)
    if exc.status is not None:
        span.set_attribute("http.response.status_code", exc.status)
    span.set_status(Status(StatusCode.ERROR, exc.kind))


class TracedProvider:
    def __init__(
        self,
        inner: Provider,
        *,
        tracer: Tracer,
        provider_type: str,
        base_url: str,
        capture_content: bool,
        on_served: OnServed,
    ) -> None:
        self._inner = inner
        self._tracer = tracer
        self._type = provider_type
        self._capture = capture_content
        self._on_served = on_served
        self._static = {**server_attributes(base_url), "headway.provider": inner.name}
        self.name = inner.name

    def __getattr__(self, name: str) -> Any:
        # Anything beyond the Provider protocol (health probes, model lists) passes straight through.
        return getattr(self._inner, name)

    def _start(self, operation: str, model: str, request: JSON) -> Span:
        attributes = {**genai.request_attributes(operation, self._type, model, request), **self._static}
        if self._capture and operation == "chat":
            attributes[genai.INPUT_MESSAGES] = genai.input_messages(request)
        return self._tracer.start_span(
            genai.span_name(operation, model), context=otel_context.get_current(), kind=SpanKind.CLIENT, attributes=attributes
        )

    def _succeeded(self, span: Span, body: JSON, usage: Usage | None) -> None:
        learnt = genai.response_attributes(body)
        if usage is not None:
            span.set_attributes(genai.usage_attributes(usage))
        span.set_attributes(learnt)
        span.set_attribute("http.response.status_code", 200)
        if self._capture and body.get("choices"):
            span.set_attribute(genai.OUTPUT_MESSAGES, genai.output_messages(body))
        self._on_served(learnt)

    async def _call(self, operation: str, call: Any, request: JSON, model: str, timeouts: Timeouts) -> ChatResult:
        span = self._start(operation, model, request)
        try:
            result: ChatResult = await call(request, model=model, timeouts=timeouts)
        except UpstreamError as exc:
            _failed(span, exc)
            raise
        except BaseException as exc:  # cancelled by a hedge or a disconnect
            span.set_attribute("error.type", type(exc).__name__)
            raise
        else:
            self._succeeded(span, result.body, result.usage)
            return result
        finally:
            span.end()

    async def chat(self, request: JSON, *, model: str, timeouts: Timeouts) -> ChatResult:
        return await self._call("chat", self._inner.chat, request, model, timeouts)

    async def embeddings(self, request: JSON, *, model: str, timeouts: Timeouts) -> ChatResult:
        return await self._call("embeddings", self._inner.embeddings, request, model, timeouts)

    def chat_stream(self, request: JSON, *, model: str, timeouts: Timeouts) -> AsyncIterator[StreamEvent]:
        return self._stream(request, model, timeouts)

    async def _stream(self, request: JSON, model: str, timeouts: Timeouts) -> AsyncIterator[StreamEvent]:
        # No context attach here: a token attached in a generator would be detached in another context.
        span = self._start("chat", model, request)
        started = time.perf_counter()
        inner = self._inner.chat_stream(request, model=model, timeouts=timeouts).__aiter__()
        body: JSON = {}
        reasons: list[str] = []
        texts: dict[int, list[str]] = {}
        usage: Usage | None = None
        completed = failed = False
        try:
            while True:
                try:
                    event = await inner.__anext__()
                except StopAsyncIteration:
                    break
                if not body:
                    span.set_attribute(genai.TIME_TO_FIRST_CHUNK, time.perf_counter() - started)
                    body = {k: event.chunk[k] for k in ("id", "model") if k in event.chunk}
                if event.usage is not None:
                    usage = event.usage
                for choice in event.chunk.get("choices") or ():
                    if not isinstance(choice, dict):
                        continue
                    if choice.get("finish_reason"):
                        reasons.append(str(choice["finish_reason"]))
                    content = (choice.get("delta") or {}).get("content")
                    if self._capture and isinstance(content, str):
                        texts.setdefault(int(choice.get("index") or 0), []).append(content)
                yield event
            completed = True
        except UpstreamError as exc:
            failed = True
            _failed(span, exc)
            raise
        finally:
            if completed:
                summary: JSON = {**body, "choices": [{"finish_reason": r} for r in reasons]}
                if texts:
                    summary["choices"] = [
                        {"message": {"role": "assistant", "content": "".join(t)}, "finish_reason": reasons[i] if i < len(reasons) else None}
                        for i, t in sorted(texts.items())
                    ]
                self._succeeded(span, summary, usage)
            elif not failed:  # the consumer stopped early: the client went away, or a hedge won
                span.set_attribute("error.type", "stream_closed")
            aclose = getattr(inner, "aclose", None)
            if aclose is not None and not completed:
                await aclose()
            span.end()

    async def close(self) -> None:
        await self._inner.close()
