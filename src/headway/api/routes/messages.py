"""Anthropic's ``POST /v1/messages`` (JSON or SSE events) and ``POST /v1/messages/count_tokens``.

Keys arrive as ``x-api-key`` (access control reads it like a bearer token); errors leave in
Anthropic's shape (``api/middleware/anthropic_errors.py``).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from headway.api.body import read_json_object
from headway.api.context import call_context
from headway.api.openapi import json_body, responses
from headway.api.responses import EventStreamResponse, JSONResponse
from headway.api.route_table import Endpoint
from headway.serving import Runtime, StreamReply, count_tokens, serve_messages

SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


async def create_message(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    body = await read_json_object(request, runtime.config.server.max_body_bytes)
    reply = await serve_messages(runtime, call_context(request), body)
    headers = {"request-id": request.state.request_id, **reply.headers}
    if isinstance(reply, StreamReply):
        return EventStreamResponse(reply.chunks, media_type="text/event-stream", headers={**SSE_HEADERS, **headers})
    return JSONResponse(reply.body, status_code=reply.status, headers=headers)


async def count_message_tokens(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    body = await read_json_object(request, runtime.config.server.max_body_bytes)
    return JSONResponse(count_tokens(runtime, call_context(request), body))


MESSAGES_REQUEST: dict[str, Any] = {
    "type": "object",
    "required": ["model", "max_tokens", "messages"],
    "properties": {
        "model": {"type": "string"},
        "max_tokens": {"type": "integer", "minimum": 1},
        "messages": {"type": "array", "items": {"type": "object"}},
        "system": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}]},
        "stop_sequences": {"type": "array", "items": {"type": "string"}},
        "stream": {"type": "boolean"},
        "temperature": {"type": "number"},
        "top_p": {"type": "number"},
        "tools": {"type": "array", "items": {"type": "object"}},
        "tool_choice": {"type": "object"},
        "metadata": {"type": "object"},
    },
}
COUNT_REQUEST: dict[str, Any] = {**MESSAGES_REQUEST, "required": ["model", "messages"]}

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "POST", "/v1/messages", create_message, "inference",
        {
            "operationId": "createMessage",
            "description": "Anthropic's Messages API, translated onto the chat path (every stage applies); errors in Anthropic's shape.",
            "requestBody": json_body(MESSAGES_REQUEST),
            "responses": responses(
                "A message (or an SSE stream of message events when stream is true)", 400, 401, 403, 404, 413, 415, 429, 502, 503, 504
            ),
        },
    ),
    Endpoint(
        "POST", "/v1/messages/count_tokens", count_message_tokens, "inference",
        {
            "operationId": "countMessageTokens",
            "description": "Headway's estimate of a Messages request's input tokens (the one its limits use).",
            "requestBody": json_body(COUNT_REQUEST),
            "responses": responses("The input token count", 400, 401, 403, 404, 413, 415),
        },
    ),
)
