"""``POST /v1/chat/completions``: JSON and SSE streaming, adapted to ``serving.serve_chat``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from headway.api.body import read_json_object
from headway.api.context import call_context
from headway.api.responses import JSONResponse
from headway.api.routes.jobs import submit_background
from headway.jobs.prefer import wants_background
from headway.serving.chat import StreamReply, serve_chat
from headway.serving.runtime import Runtime


async def chat_completions(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    ctx = call_context(request)
    body = await read_json_object(request, runtime.config.server.max_body_bytes)
    if wants_background(request.headers, body):  # Prefer: respond-async or "background": true
        return await submit_background(request, ctx, body)
    reply = await serve_chat(runtime, ctx, body)
    if isinstance(reply, StreamReply):
        return StreamingResponse(
            reply.chunks,
            media_type="text/event-stream",
            headers={"cache-control": "no-cache", "x-accel-buffering": "no", **reply.headers},
        )
    return JSONResponse(reply.body, status_code=reply.status, headers=reply.headers)
