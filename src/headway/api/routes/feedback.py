"""``POST /v1/feedback``, ``GET /admin/feedback`` and ``GET /admin/feedback/export`` (JSONL)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from headway.api.body import read_json_object
from headway.api.context import call_context
from headway.api.responses import JSONResponse
from headway.api.routes.metrics import time_param
from headway.errors import InvalidRequestError, NotFoundError, ServiceUnavailableError
from headway.observe.feedback import FeedbackStore, parse_feedback
from headway.serving.runtime import Runtime
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
