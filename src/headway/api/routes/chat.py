"""``POST /v1/chat/completions``: JSON and SSE streaming, adapted to ``serving.serve_chat``."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from headway.api.body import read_json_object
from headway.api.context import call_context
from headway.api.openapi import json_body, responses
from headway.api.responses import EventStreamResponse, JSONResponse
from headway.api.route_table import Endpoint
from headway.api.routes.jobs import submit_background
from headway.jobs import wants_background
from headway.serving import Runtime, StreamReply, serve_chat


async def chat_completions(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    ctx = call_context(request)
    body = await read_json_object(request, runtime.config.server.max_body_bytes)
    if wants_background(request.headers, body):  # Prefer: respond-async or "background": true
        return await submit_background(request, ctx, body)
    reply = await serve_chat(runtime, ctx, body)
    if isinstance(reply, StreamReply):
        return EventStreamResponse(
            reply.chunks,
            media_type="text/event-stream",
            headers={"cache-control": "no-cache", "x-accel-buffering": "no", **reply.headers},
        )
    return JSONResponse(reply.body, status_code=reply.status, headers=reply.headers)


CHAT_RETRIEVAL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RAG: collections to retrieve from; removed before the request goes upstream.",
    "required": ["collections"],
    "properties": {
        "collections": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
        "k": {"type": "integer", "minimum": 1, "maximum": 50},
        "filters": {"type": "object"},
    },
    "additionalProperties": False,
}

_MESSAGE: dict[str, Any] = {
    "type": "object",
    "required": ["role"],
    "properties": {
        "role": {"type": "string", "enum": ["system", "developer", "user", "assistant", "tool"]},
        "content": {
            "anyOf": [
                {"type": "string"},
                {"type": "null"},
                {"type": "array", "items": {"type": "object", "properties": {"type": {"type": "string"}, "text": {"type": "string"}}}},
            ]
        },
        "name": {"type": "string"},
        "tool_call_id": {"type": "string"},
        "tool_calls": {"type": "array", "items": {"type": "object"}},
    },
}

CHAT_REQUEST: dict[str, Any] = {
    "type": "object",
    "required": ["model", "messages"],
    "properties": {
        "model": {"type": "string"},
        "messages": {"type": "array", "items": _MESSAGE},
        "stream": {"type": "boolean"},
        "stream_options": {"type": "object", "properties": {"include_usage": {"type": "boolean"}}},
        "n": {"type": "integer"},
        "max_tokens": {"type": "integer"},
        "max_completion_tokens": {"type": "integer"},
        "temperature": {"type": "number"},
        "top_p": {"type": "number"},
        "stop": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "tools": {"type": "array", "items": {"type": "object"}},
        "tool_choice": {"anyOf": [{"type": "string"}, {"type": "object"}]},
        "response_format": {"type": "object"},
        "metadata": {"type": "object"},
        "retrieval": CHAT_RETRIEVAL_SCHEMA,
        "user": {"type": "string"},
    },
}

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "POST", "/v1/chat/completions", chat_completions, "inference",
        {
            "operationId": "createChatCompletion",
            "requestBody": json_body(CHAT_REQUEST),
            "responses": responses(
                "A chat completion (or an SSE stream when stream is true)", 400, 401, 403, 404, 413, 415, 429, 502, 503, 504
            ),
        },
    ),
)
