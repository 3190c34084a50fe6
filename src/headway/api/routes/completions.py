"""Legacy ``POST /v1/completions``: JSON and SSE streaming, adapted to ``serving.serve_completion``."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from headway.api.body import read_json_object
from headway.api.context import call_context
from headway.api.openapi import json_body, responses
from headway.api.responses import EventStreamResponse, JSONResponse
from headway.api.route_table import Endpoint
from headway.serving import Runtime, StreamReply, serve_completion


async def create_completion(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    body = await read_json_object(request, runtime.config.server.max_body_bytes)
    reply = await serve_completion(runtime, call_context(request), body)
    if isinstance(reply, StreamReply):
        headers = {"cache-control": "no-cache", "x-accel-buffering": "no", **reply.headers}
        return EventStreamResponse(reply.chunks, media_type="text/event-stream", headers=headers)
    return JSONResponse(reply.body, status_code=reply.status, headers=reply.headers)


COMPLETION_REQUEST: dict[str, Any] = {
    "type": "object",
    "required": ["model", "prompt"],
    "properties": {
        "model": {"type": "string"},
        "prompt": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "maxItems": 1}]},
        "max_tokens": {"type": "integer"},
        "temperature": {"type": "number"},
        "top_p": {"type": "number"},
        "n": {"type": "integer"},
        "stream": {"type": "boolean"},
        "stop": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "echo": {"type": "boolean"},
        "user": {"type": "string"},
    },
}

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "POST", "/v1/completions", create_completion, "inference",
        {
            "operationId": "createCompletion",
            "description": "Legacy text completions, translated onto the chat path (every stage applies).",
            "requestBody": json_body(COMPLETION_REQUEST),
            "responses": responses(
                "A text completion (or an SSE stream when stream is true)", 400, 401, 403, 404, 413, 415, 429, 502, 503, 504
            ),
        },
    ),
)
