"""What running one stored request answers, and the ``Execute`` callable that runs it.

Jobs and batch lines are run by an ``Execute`` the runtime passes in when it starts the
job service (``serving.stored.serve_stored``, the same path as a live request), so this
part never imports ``serving``. Errors become the HTTP answer the client would have got
(status and OpenAI error body); whether that answer is worth another try later is
decided here too.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from headway.errors import APIError
from headway.types import JSON, CallContext, RequestRecord, time_ordered_request_id

CHAT = "/v1/chat/completions"
EMBEDDINGS = "/v1/embeddings"
RESPONSES = "/v1/responses"  # a background Response: the body is {response_id, request} (serving runs it)
ENDPOINTS = (CHAT, EMBEDDINGS)
_RETRY_STATUS = frozenset({429, 503})


def new_request_id() -> str:
    return time_ordered_request_id()


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


def error_answer(error: APIError, request_id: str, record: RequestRecord | None = None) -> Answer:
    """``record``: the call's record when serving opened one — an error can follow paid model
    calls (a held answer, a refused output), and the job or batch reports what they cost."""
    body = error.to_body()
    body["error"].setdefault("request_id", request_id)
    retryable = error.status in _RETRY_STATUS and error.headers.get("x-should-retry") != "false"
    retry_after_s = _seconds(error.headers.get("retry-after"))
    if record is None:
        return Answer(error.status, body, request_id, retryable=retryable, retry_after_s=retry_after_s)
    return Answer(
        error.status,
        body,
        request_id,
        cost_usd=float(record.cost_usd or 0.0),
        input_tokens=record.input_tokens,
        output_tokens=record.output_tokens,
        cached_tokens=record.cache_read_tokens,
        reasoning_tokens=record.reasoning_tokens,
        retryable=retryable,
        retry_after_s=retry_after_s,
    )


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


# Runs one stored request with the submitter's context: (ctx, endpoint, body) -> Answer.
Execute = Callable[[CallContext, str, JSON], Coroutine[Any, Any, Answer]]
# Refuses a model that does not exist as ``kind`` or that the caller may not use: (ctx, model, kind).
ModelCheck = Callable[[CallContext, str, str], None]
