"""``POST /v1/feedback``, ``GET /admin/feedback`` and ``GET /admin/feedback/export`` (JSONL)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from headway.api.body import read_json_object
from headway.api.context import call_context
from headway.api.responses import JSONResponse
from headway.api.route_table import Endpoint
from headway.api.routes.metrics import TIME_HELP, openapi_reply, query, time_param
from headway.errors import InvalidRequestError, NotFoundError, ServiceUnavailableError
from headway.observe import FeedbackStore, parse_feedback
from headway.serving import Runtime
from headway.types import JSON

# Roles that may leave feedback on anyone's request; everyone else only on their own.
_ANY_REQUEST_ROLES = frozenset({"admin", "operator"})
_EXPORT_CHUNK = 500


def _store(runtime: Runtime) -> FeedbackStore:
    store = runtime.observability.feedback
    if store is None:
        raise ServiceUnavailableError("Feedback needs the SQL store", code="store_unavailable")
    return store


async def submit_feedback(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    store = _store(runtime)
    ctx = call_context(request)
    body = await read_json_object(request, runtime.config.server.max_body_bytes)
    item = parse_feedback(body, caller=ctx.caller)
    owner = None if ctx.roles & _ANY_REQUEST_ROLES else ctx.caller
    added = await asyncio.to_thread(store.add, item, owner=owner)
    if not added:
        # Records reach the store off the hot path: feedback right after the answer may beat its record.
        await runtime.request_log.flush()
        added = await asyncio.to_thread(store.add, item, owner=owner)
    if not added:
        if not runtime.request_log.health().store_ok:
            # The record may be waiting in the spill journal: say "try later", not "no such request".
            raise ServiceUnavailableError("The request log cannot reach the store; try again shortly", code="store_unavailable")
        raise NotFoundError(f"No request {item.request_id!r} of yours in the request log", param="request_id")
    runtime.observability.metrics.feedback("score" if item.score is not None else "label")
    return JSONResponse({"object": "feedback", **item.to_dict()}, status_code=201)


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit", "100")
    try:
        value = int(raw)
    except ValueError:
        raise InvalidRequestError("'limit' must be an integer", param="limit") from None
    if not 1 <= value <= 1000:
        raise InvalidRequestError("'limit' must be between 1 and 1000", param="limit")
    return value


async def list_feedback(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    store = _store(runtime)
    request_id = request.query_params.get("request_id")
    if request_id is not None:
        items = await asyncio.to_thread(store.for_request, request_id)
    else:
        now = time.time()
        items = await asyncio.to_thread(
            store.query,
            since=time_param(request, "since", now),
            until=time_param(request, "until", now),
            label=request.query_params.get("label"),
            limit=_limit(request),
        )
    return JSONResponse({"object": "list", "data": [i.to_dict() for i in items]})


async def export_feedback(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    store = _store(runtime)
    now = time.time()
    lines = store.export(
        since=time_param(request, "since", now), until=time_param(request, "until", now), label=request.query_params.get("label")
    )
    return StreamingResponse(
        _chunks(lines),
        media_type="application/x-ndjson",
        headers={"content-disposition": 'attachment; filename="headway-feedback.jsonl"'},
    )


def _take(lines: Iterator[JSON]) -> bytes:
    out = []
    for line in lines:
        out.append(orjson.dumps(line) + b"\n")
        if len(out) >= _EXPORT_CHUNK:
            break
    return b"".join(out)


async def _chunks(lines: Iterator[JSON]) -> AsyncIterator[bytes]:
    # The store is synchronous: pull a chunk at a time in a worker thread.
    while chunk := await asyncio.to_thread(_take, lines):
        yield chunk


FEEDBACK_REQUEST: dict[str, Any] = {
    "type": "object",
    "required": ["request_id"],
    "additionalProperties": False,
    "properties": {
        "request_id": {"type": "string", "maxLength": 64, "description": "The x-request-id of the rated request."},
        "score": {"type": "number", "description": "A score on the application's scale; score or label is required."},
        "label": {"type": "string", "maxLength": 200},
        "comment": {"type": "string", "maxLength": 10_000},
        "metadata": {"type": "object"},
    },
}

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "POST", "/v1/feedback", submit_feedback, "inference",
        {
            "operationId": "createFeedback",
            "tags": ["observe"],
            "requestBody": {"required": True, "content": {"application/json": {"schema": FEEDBACK_REQUEST}}},
            "responses": openapi_reply("The stored feedback", 400, 401, 403, 404, 413, 415, 503, ok="201"),
        },
    ),
    Endpoint(
        "GET", "/admin/feedback", list_feedback, "observe:read",
        {
            "operationId": "listFeedback",
            "tags": ["observe"],
            "parameters": [
                query("request_id", "Feedback on this request"),
                query("since", TIME_HELP),
                query("until", TIME_HELP),
                query("label", "Only this label"),
                query("limit", "At most this many (1-1000)", {"type": "integer"}),
            ],
            "responses": openapi_reply("Feedback, newest first", 400, 401, 403, 503),
        },
    ),
    Endpoint(
        "GET", "/admin/feedback/export", export_feedback, "observe:read",
        {
            "operationId": "exportFeedback",
            "tags": ["observe"],
            "parameters": [query("since", TIME_HELP), query("until", TIME_HELP), query("label", "Only this label")],
            "responses": openapi_reply("JSON Lines: feedback joined with its request record", 400, 401, 403, 503, media="application/x-ndjson"),
        },
    ),
)
