"""Run one stored request through the same path as a synchronous one (``serving``).

Jobs and batch lines call ``serve_chat``/``serve_embeddings`` with the submitter's
context, so admission, resilience, guards, review, recording, limits and budgets apply
unchanged. Errors become the HTTP answer the client would have got (status and OpenAI
error body); whether that answer is worth another try later is decided here too.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING

from headway.errors import APIError
from headway.types import JSON, CallContext

if TYPE_CHECKING:
    from headway.serving.runtime import Runtime

log = logging.getLogger("headway.jobs")

CHAT = "/v1/chat/completions"
EMBEDDINGS = "/v1/embeddings"
ENDPOINTS = (CHAT, EMBEDDINGS)
_RETRY_STATUS = frozenset({429, 503})


def new_request_id() -> str:
    return f"req_{secrets.token_hex(16)}"


@dataclass(frozen=True, slots=True)
class Answer:
    status_code: int
    body: JSON
    request_id: str
    cost_usd: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    retryable: bool = False  # shed or rate limited: another try later may succeed
    retry_after_s: float | None = None  # the answer's Retry-After, when it said

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300


def _error_answer(error: APIError, request_id: str) -> Answer:
    body = error.to_body()
    body["error"].setdefault("request_id", request_id)
    retryable = error.status in _RETRY_STATUS and error.headers.get("x-should-retry") != "false"
    return Answer(error.status, body, request_id, retryable=retryable, retry_after_s=_seconds(error.headers.get("retry-after")))


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


async def execute(runtime: Runtime, ctx: CallContext, endpoint: str, body: JSON) -> Answer:
    # Imported here: serving imports the runtime, which builds the job service.
    from headway.serving.chat import Reply, StreamReply, serve_chat, serve_embeddings

    reply: Reply | StreamReply
    try:
        if endpoint == EMBEDDINGS:
            reply = await serve_embeddings(runtime, ctx, dict(body))
        else:
            reply = await serve_chat(runtime, ctx, {**body, "stream": False})
    except APIError as error:
        return _error_answer(error, ctx.request_id)
    except Exception:  # a bug must fail this one request, not the job or batch around it
        log.exception("job request %s failed unexpectedly", ctx.request_id)
        failure = APIError(f"Headway failed to serve the request (request {ctx.request_id}).", code="internal_error")
        return _error_answer(failure, ctx.request_id)
    if isinstance(reply, StreamReply):  # cannot happen with stream=False; never leave a stream open
        aclose = getattr(reply.chunks, "aclose", None)
        if aclose is not None:
            await aclose()
        return _error_answer(APIError("a stored request cannot stream", status=400, type="invalid_request_error"), ctx.request_id)
    record = reply.record
    return Answer(
        status_code=reply.status,
        body=reply.body,
        request_id=ctx.request_id,
        cost_usd=float(record.cost_usd or 0.0),
        input_tokens=record.input_tokens,
        output_tokens=record.output_tokens,
        cached_tokens=record.cache_read_tokens,
        reasoning_tokens=record.reasoning_tokens,
    )
