"""``/v1/responses``: create (JSON, SSE events, or a background job), retrieve, delete, input items, cancel."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from headway.api.body import read_json_object
from headway.api.context import call_context
from headway.api.openapi import json_body, responses
from headway.api.params import query_int
from headway.api.responses import JSONResponse
from headway.api.route_table import Endpoint
from headway.dialects import ResponseStore, StoredResponse
from headway.errors import InvalidRequestError, NotFoundError
from headway.serving import (
    Runtime,
    StreamReply,
    cancel_response_job,
    current_response,
    delete_stored_response,
    serve_response,
    submit_response,
)

SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


def _store(request: Request) -> ResponseStore:
    runtime: Runtime = request.app.state.runtime
    return ResponseStore(runtime.store.database)


async def create_response(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    body = await read_json_object(request, runtime.config.server.max_body_bytes)
    if body.get("background") is True:  # a job on the durable queue: answered at once as queued
        return JSONResponse(await submit_response(runtime.jobs, _store(request), call_context(request), body))
    reply = await serve_response(runtime, _store(request), call_context(request), body)
    if isinstance(reply, StreamReply):
        return StreamingResponse(reply.chunks, media_type="text/event-stream", headers={**SSE_HEADERS, **reply.headers})
    return JSONResponse(reply.body, status_code=reply.status, headers=reply.headers)


async def _found(request: Request) -> StoredResponse:
    response_id = request.path_params["response_id"]
    stored = await asyncio.to_thread(_store(request).get, response_id, call_context(request).caller)
    if stored is None:
        raise NotFoundError(f"Response with id {response_id!r} not found.", param="response_id", code="response_not_found")
    return stored


async def get_response(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    return JSONResponse(await current_response(runtime.jobs, call_context(request), await _found(request)))


async def delete_response(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    response_id = request.path_params["response_id"]
    deleted = await delete_stored_response(runtime.jobs, _store(request), call_context(request), response_id)
    if not deleted:
        raise NotFoundError(f"Response with id {response_id!r} not found.", param="response_id", code="response_not_found")
    return JSONResponse({"id": response_id, "object": "response", "deleted": True})


async def list_input_items(request: Request) -> Response:
    items = list((await _found(request)).input_items)
    order = request.query_params.get("order", "desc")
    if order not in ("asc", "desc"):
        raise InvalidRequestError("'order' must be asc or desc", param="order", code="invalid_value")
    limit = query_int(request, "limit", 20, 1, 100)
    if order == "desc":
        items.reverse()
    after = request.query_params.get("after")
    if after is not None:
        ids = [item.get("id") for item in items]
        if after not in ids:
            raise InvalidRequestError(f"'after' names no item of this response: {after!r}", param="after", code="invalid_value")
        items = items[ids.index(after) + 1 :]
    page = items[:limit]
    return JSONResponse(
        {
            "object": "list",
            "data": page,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
            "has_more": len(items) > limit,
        }
    )


async def cancel_response(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    return JSONResponse(await cancel_response_job(runtime.jobs, _store(request), call_context(request), await _found(request)))


_ID = [{"name": "response_id", "in": "path", "required": True, "schema": {"type": "string"}}]

RESPONSE_REQUEST: dict[str, Any] = {
    "type": "object",
    "required": ["model", "input"],
    "properties": {
        "model": {"type": "string"},
        "input": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}]},
        "instructions": {"type": "string"},
        "previous_response_id": {"type": "string"},
        "store": {"type": "boolean"},
        "stream": {"type": "boolean"},
        "tools": {"type": "array", "items": {"type": "object"}},
        "tool_choice": {"anyOf": [{"type": "string"}, {"type": "object"}]},
        "text": {"type": "object", "properties": {"format": {"type": "object"}}},
        "max_output_tokens": {"type": "integer"},
        "temperature": {"type": "number"},
        "top_p": {"type": "number"},
        "reasoning": {"type": "object"},
        "metadata": {"type": "object"},
        "user": {"type": "string"},
        "background": {"type": "boolean"},
        "include": {"type": "array", "items": {"type": "string"}},
    },
}

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "POST", "/v1/responses", create_response, "inference",
        {
            "operationId": "createResponse",
            "description": "OpenAI's Responses API on the chat path (every stage applies): native on providers with "
            "responses: native, else translated; background: true queues it as a job.",
            "requestBody": json_body(RESPONSE_REQUEST),
            "responses": responses(
                "A Response (or an SSE stream of Response events when stream is true)", 400, 401, 403, 404, 413, 415, 429, 502, 503, 504
            ),
        },
    ),
    Endpoint(
        "GET", "/v1/responses/{response_id}", get_response, "inference",
        {"operationId": "getResponse", "parameters": _ID, "responses": responses("A stored Response", 401, 403, 404)},
    ),
    Endpoint(
        "DELETE", "/v1/responses/{response_id}", delete_response, "inference",
        {"operationId": "deleteResponse", "parameters": _ID, "responses": responses("The Response was deleted", 401, 403, 404)},
    ),
    Endpoint(
        "GET", "/v1/responses/{response_id}/input_items", list_input_items, "inference",
        {
            "operationId": "listResponseInputItems",
            "parameters": [
                *_ID,
                {"name": "order", "in": "query", "schema": {"type": "string", "enum": ["asc", "desc"]}},
                {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
                {"name": "after", "in": "query", "schema": {"type": "string"}},
            ],
            "responses": responses("The Response's input items", 400, 401, 403, 404),
        },
    ),
    Endpoint(
        "POST", "/v1/responses/{response_id}/cancel", cancel_response, "inference",
        {"operationId": "cancelResponse", "parameters": _ID, "responses": responses("The cancelled background Response", 400, 401, 403, 404)},
    ),
)
