"""``POST /v1/embeddings``, adapted to ``serving.serve_embeddings``."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from headway.api.body import read_json_object
from headway.api.context import call_context
from headway.api.openapi import json_body, responses
from headway.api.responses import JSONResponse
from headway.api.route_table import Endpoint
from headway.serving import Runtime, serve_embeddings


async def embeddings(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    ctx = call_context(request)
    body = await read_json_object(request, runtime.config.server.max_body_bytes)
    reply = await serve_embeddings(runtime, ctx, body)
    return JSONResponse(reply.body, status_code=reply.status, headers=reply.headers)


EMBEDDINGS_REQUEST: dict[str, Any] = {
    "type": "object",
    "required": ["model", "input"],
    "properties": {
        "model": {"type": "string"},
        "input": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "encoding_format": {"type": "string", "enum": ["float", "base64"]},
        "dimensions": {"type": "integer"},
        "user": {"type": "string"},
    },
}

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "POST", "/v1/embeddings", embeddings, "inference",
        {
            "operationId": "createEmbedding",
            "requestBody": json_body(EMBEDDINGS_REQUEST),
            "responses": responses("Embeddings", 400, 401, 403, 404, 413, 415, 429, 502, 503, 504),
        },
    ),
)
