"""``POST /v1/chat/completions``: JSON and SSE streaming."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from headway.api.body import read_json_object
from headway.api.outcome import apply_usage, exhausted_to_api_error
from headway.api.responses import JSONResponse
from headway.api.runtime import Runtime
from headway.api.validation import validate_chat_request
from headway.errors import APIError, UpstreamError
from headway.routing.executor import ExhaustedError, OpenedStream
from headway.types import RequestRecord, Usage

_DONE = b"data: [DONE]\n\n"


def new_record(request: Request, endpoint: str, model: str, body: dict[str, Any]) -> RequestRecord:
    metadata = body.get("metadata")
    return RequestRecord(
        request_id=request.state.request_id,
        endpoint=endpoint,
        model=model,
        caller=getattr(request.state, "caller", "anonymous"),
        team=getattr(request.state, "team", None),
        stream=bool(body.get("stream")),
        metadata=metadata if isinstance(metadata, dict) else {},
    )


def finish(record: RequestRecord, started: float, status: int, error: APIError | None = None) -> None:
    record.status_code = status
    record.latency_ms = round((time.perf_counter() - started) * 1000, 3)
    if error is not None:
        record.error_type = error.code or error.type
        record.error_message = error.message[:1000]


async def chat_completions(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    started = time.perf_counter()
    body = await read_json_object(request, runtime.config.server.max_body_bytes)
    model = validate_chat_request(body)
    route = runtime.route(model, "chat")
    record = new_record(request, "chat.completions", model, body)
    if body.get("stream"):
        return await _stream(runtime, request, body, route_name=model, record=record, started=started)
    try:
        served = await runtime.executor.chat(route, body, record.attempts)
    except ExhaustedError as exc:
        error = exhausted_to_api_error(exc, record.request_id)
        finish(record, started, error.status, error)
        runtime.request_log.record(record)
        raise error from None
    apply_usage(record, served.result.usage, served.deployment)
    record.served_by = served.served_by
    finish(record, started, 200)
    runtime.request_log.record(record)
    return JSONResponse(served.result.body, headers=_served_headers(record))


def _served_headers(record: RequestRecord) -> dict[str, str]:
    headers = {"x-headway-served-by": record.served_by or "primary"}
    if record.deployment:
        headers["x-headway-deployment"] = record.deployment
    return headers


async def _stream(
    runtime: Runtime, request: Request, body: dict[str, Any], *, route_name: str, record: RequestRecord, started: float
) -> Response:
    route = runtime.route(route_name, "chat")
    try:
        opened = await runtime.executor.open_stream(route, body, record.attempts)
    except ExhaustedError as exc:
        error = exhausted_to_api_error(exc, record.request_id)
        finish(record, started, error.status, error)
        runtime.request_log.record(record)
        raise error from None
    record.served_by = opened.served_by
    record.deployment = opened.deployment.id
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    return StreamingResponse(
        _sse(runtime, opened, record, started, include_usage),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache", "x-accel-buffering": "no", **_served_headers(record)},
    )


async def _sse(
    runtime: Runtime, opened: OpenedStream, record: RequestRecord, started: float, include_usage: bool
) -> AsyncIterator[bytes]:
    first_at = time.perf_counter()
    record.ttft_ms = round((first_at - started) * 1000, 3)
    usage: Usage | None = None
    error: UpstreamError | None = None
    completed = False
    try:
        event = opened.first
        while True:
            if event.usage is not None:
                usage = event.usage
            # Headway always asks upstream for usage; clients that did not ask never see that chunk.
            if include_usage or event.chunk.get("choices") or event.usage is None:
                yield b"data: " + orjson.dumps(event.chunk) + b"\n\n"
            try:
                event = await opened.rest.__anext__()
            except StopAsyncIteration:
                break
        yield _DONE
        completed = True
    except UpstreamError as exc:
        error = exc
        # A failure after the first byte cannot fall back: end with an error event the SDK raises on.
        yield b"data: " + orjson.dumps(_stream_error(exc, record.request_id)) + b"\n\n"
    finally:
        aclose = getattr(opened.rest, "aclose", None)
        if aclose is not None and not completed:
            await aclose()
        record.attempts.append(runtime.executor.stream_attempt(opened, error=error, first_at=first_at))
        if usage is not None:
            apply_usage(record, usage, opened.deployment)
        # The HTTP status (200) was sent with the head; the record keeps the logical outcome.
        if completed:
            record.status_code = 200
        elif error is not None:
            record.status_code, record.error_type, record.error_message = 502, "stream_interrupted", error.message[:1000]
        else:
            record.status_code, record.error_type, record.error_message = 499, "client_disconnected", "client went away mid-stream"
        record.latency_ms = round((time.perf_counter() - started) * 1000, 3)
        runtime.request_log.record(record)


def _stream_error(exc: UpstreamError, request_id: str) -> dict[str, Any]:
    return {
        "error": {
            "message": f"The upstream stream failed after it started ({exc.kind}): {exc.message} (request {request_id})",
            "type": "upstream_error",
            "param": None,
            "code": "stream_interrupted",
            "request_id": request_id,
        }
    }
