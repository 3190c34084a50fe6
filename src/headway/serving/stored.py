"""A stored request (a background job, a batch line) run through the same path as a live one.

The runtime hands ``serve_stored`` bound to itself to the jobs part when it starts, so
admission, resilience, guards, review, recording, limits and budgets apply unchanged.
Errors become the HTTP answer the client would have got (status and OpenAI error body).
"""

from __future__ import annotations

import logging

from headway.errors import APIError
from headway.jobs import EMBEDDINGS, RESPONSES, Answer, error_answer
from headway.serving.chat import Reply, StreamReply, serve_chat, serve_embeddings
from headway.serving.job_answer import job_answer
from headway.serving.parts import ServingParts
from headway.serving.responses_background import run_stored_response
from headway.types import JSON, CallContext

log = logging.getLogger("headway.jobs")


async def serve_stored(parts: ServingParts, ctx: CallContext, endpoint: str, body: JSON) -> Answer:
    reply: Reply | StreamReply
    try:
        if endpoint == RESPONSES:  # a background Response: its own store and shape
            return await run_stored_response(parts, ctx, body)
        if endpoint == EMBEDDINGS:
            reply = await serve_embeddings(parts, ctx, dict(body))
        else:
            reply = await serve_chat(parts, ctx, {**body, "stream": False})
    except APIError as error:
        return error_answer(error, ctx.request_id, ctx.record)
    except Exception:  # a bug must fail this one request, not the job or batch around it
        log.exception("job request %s failed unexpectedly", ctx.request_id)
        failure = APIError(f"Headway failed to serve the request (request {ctx.request_id}).", code="internal_error")
        return error_answer(failure, ctx.request_id, ctx.record)
    return await job_answer(reply, ctx.request_id, what="a stored request")
