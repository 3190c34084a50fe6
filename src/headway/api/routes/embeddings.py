"""``POST /v1/embeddings``, adapted to ``serving.serve_embeddings``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from headway.api.body import read_json_object
from headway.api.context import call_context
from headway.api.responses import JSONResponse
from headway.serving.chat import serve_embeddings
from headway.serving.runtime import Runtime


async def embeddings(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    ctx = call_context(request)
    body = await read_json_object(request, runtime.config.server.max_body_bytes)
    reply = await serve_embeddings(runtime, ctx, body)
    return JSONResponse(reply.body, status_code=reply.status, headers=reply.headers)
