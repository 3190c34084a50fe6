"""What the caller of a held request gets, in every state: pure functions.

- open (pending, claimed, escalated), on the original request: ``409`` ``review_pending``
  in OpenAI's error shape carrying ``review_id`` and ``status_url`` (with ``Location``,
  ``Retry-After`` and ``x-should-retry: false``), so a plain SDK call raises a typed error
  (``openai.ConflictError``) instead of returning a malformed completion; a caller that
  opts in with ``Prefer: review=ticket`` gets ``202 Accepted`` and the ticket
  ``{id, object: "review", status, status_url, …}`` instead. The status URL always
  answers an open item with the 202 ticket;
- approved / edited: ``200`` with exactly the released ``chat.completion`` (the model's
  answer, or the reviewer's edit of it);
- rejected: ``403`` ``review_rejected``; expired (nobody decided in time, default
  reject): ``403`` ``review_expired``. Both in OpenAI's error shape, with the review id.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from headway.errors import ConflictError, InvalidRequestError, PermissionDeniedError
from headway.review.items import ReviewItem
from headway.routing import completion_chunks, fixed_completion
from headway.types import JSON

STATUS_HEADER = "x-headway-review-status"
ID_HEADER = "x-headway-review-id"
RETRY_AFTER_S = 2
TICKET_PREFERENCE = "review=ticket"  # Prefer token: answer an open item with the 202 ticket
MAX_OUTPUT_CHARS = 200_000


class ReviewRejectedError(PermissionDeniedError):
    """The held answer was not released: a reviewer rejected it, or nobody decided in time."""

    code = "review_rejected"


class ReviewPendingError(ConflictError):
    """The answer is held for human review and not decided yet (the SDKs raise ``ConflictError``)."""

    code = "review_pending"


@dataclass(slots=True)
class Answer:
    body: JSON
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    chunks: AsyncIterator[bytes] | None = None  # set when a caller that asked to stream gets the released answer


def status_path(review_id: str) -> str:
    return f"/v1/reviews/{review_id}"


def status_url(review_id: str, *, public_url: str | None, headers: Mapping[str, str]) -> str:
    """Absolute when the host is known (``server.public_url``, else the request's Host); else a path."""
    path = status_path(review_id)
    if public_url:
        return public_url.rstrip("/") + path
    host = headers.get("x-forwarded-host") or headers.get("host")
    if not host:
        return path
    scheme = (headers.get("x-forwarded-proto") or "http").split(",")[0].strip()
    return f"{scheme}://{host.split(',')[0].strip()}{path}"


def ticket(item: ReviewItem) -> JSON:
    return {
        "id": item.review_id,
        "object": "review",
        "status": item.status,
        "status_url": item.status_url,
        "request_id": item.request_id,
        "policy": item.policy,
        "created_at": item.created_at,
        "deadline_at": item.deadline_at,
    }


def wants_ticket(prefer: str | None) -> bool:
    """``Prefer: review=ticket`` (RFC 7240 token, case-insensitive): the caller polls a 202 ticket itself."""
    if not prefer:
        return False
    return any(p.split(";", 1)[0].strip().lower().replace(" ", "") == TICKET_PREFERENCE for p in prefer.split(","))


def answer(item: ReviewItem, *, as_ticket: bool = True) -> Answer:
    """The response for ``item`` in its current state.

    Raises ``ReviewRejectedError`` when refused, and ``ReviewPendingError`` while open
    unless ``as_ticket`` (the status URL, or a caller that opted in to the 202 ticket).
    """
    headers = {ID_HEADER: item.review_id, STATUS_HEADER: item.status}
    if item.open:
        if not as_ticket:
            raise pending(item)
        return Answer(ticket(item), 202, {**headers, "location": item.status_url, "retry-after": str(RETRY_AFTER_S)})
    released = item.released
    if released is not None:
        return Answer(released, 200, headers)
    raise refusal(item)


def pending(item: ReviewItem) -> ReviewPendingError:
    """A typed error for a plain SDK call whose answer is still held: the id and status URL travel with it."""
    headers = {
        ID_HEADER: item.review_id,
        STATUS_HEADER: item.status,
        "location": item.status_url,
        "retry-after": str(RETRY_AFTER_S),
        "x-should-retry": "false",  # the SDKs would otherwise retry a 409 at once; a decision takes a person
    }
    extra: JSON = {
        "review_id": item.review_id,
        "status_url": item.status_url,
        "request_id": item.request_id,
        "review_status": item.status,
        "deadline_at": item.deadline_at,
    }
    return ReviewPendingError(
        f"The answer to request {item.request_id} is held for human review ({item.review_id}, {item.status}). "
        f"Poll {item.status_url} (or send 'Prefer: wait=N') for the decision.",
        headers=headers, extra=extra,
    )


def refusal(item: ReviewItem) -> ReviewRejectedError:
    extra: JSON = {"review_id": item.review_id, "request_id": item.request_id, "review_status": item.status}
    headers = {ID_HEADER: item.review_id, STATUS_HEADER: item.status}
    if item.status == "expired":
        return ReviewRejectedError(
            f"The answer to request {item.request_id} was held for human review ({item.review_id}) and nobody "
            "approved it before its deadline, so it was not released.",
            code="review_expired", headers=headers, extra=extra,
        )
    why = f" Reviewer's comment: {item.comment}" if item.comment else ""
    return ReviewRejectedError(
        f"The answer to request {item.request_id} was rejected in human review ({item.review_id}).{why}",
        code="review_rejected", headers=headers, extra=extra,
    )


def decision_payload(item: ReviewItem) -> JSON:
    """The webhook's ``data``: the decision and what the caller gets, exactly as the status URL answers."""
    data: JSON = {
        **ticket(item),
        "decided_by": item.decided_by,
        "decided_at": item.decided_at,
        "comment": item.comment,
        "response": item.released,
        "error": None if item.released is not None else refusal(item).to_body()["error"],
    }
    return data


def edited_completion(original: JSON | None, text: str, model: str) -> JSON:
    """The reviewer's answer: the original with the first choice's content replaced (other choices dropped)."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidRequestError("'output' must be the non-empty text of the edited answer", param="output")
    if len(text) > MAX_OUTPUT_CHARS:
        raise InvalidRequestError(f"'output' is at most {MAX_OUTPUT_CHARS} characters", param="output")
    if not original or not original.get("choices"):
        return fixed_completion(model, text)
    body = copy.deepcopy(original)
    choice = body["choices"][0]
    message = dict(choice.get("message") or {"role": "assistant"})
    message["content"] = text
    message.pop("tool_calls", None)
    choice.update(message=message, finish_reason="stop", index=0)
    body["choices"] = [choice]
    return body


def edited_tool_calls(original: JSON | None, edits: Any) -> JSON:
    """The original with the arguments of the named tool calls replaced (``[{id, arguments}]``); others kept."""
    calls = ((original or {}).get("choices") or [{}])[0].get("message", {}).get("tool_calls") if original else None
    if not calls:
        raise InvalidRequestError("The held answer has no tool calls to edit; edit its 'output' instead.", param="tool_calls")
    if not isinstance(edits, list) or not edits:
        raise InvalidRequestError("'tool_calls' must be a non-empty list of {id, arguments}", param="tool_calls")
    by_id = {str(c.get("id")): i for i, c in enumerate(calls)}
    body = copy.deepcopy(original)
    assert body is not None
    new_calls = body["choices"][0]["message"]["tool_calls"]
    for edit in edits:
        if not isinstance(edit, dict) or set(edit) != {"id", "arguments"}:
            raise InvalidRequestError("each edited tool call is exactly {id, arguments}", param="tool_calls")
        if str(edit["id"]) not in by_id:
            raise InvalidRequestError(f"no tool call {edit['id']!r} in the held answer", param="tool_calls")
        arguments = edit["arguments"]
        if isinstance(arguments, str):
            try:
                arguments = orjson.loads(arguments)
            except orjson.JSONDecodeError:
                raise InvalidRequestError("tool call arguments must be a JSON object", param="tool_calls") from None
        if not isinstance(arguments, dict):
            raise InvalidRequestError("tool call arguments must be a JSON object", param="tool_calls")
        text = orjson.dumps(arguments).decode()
        if len(text) > MAX_OUTPUT_CHARS:
            raise InvalidRequestError(f"tool call arguments are at most {MAX_OUTPUT_CHARS} characters", param="tool_calls")
        new_calls[by_id[str(edit["id"])]]["function"]["arguments"] = text
    body["choices"] = body["choices"][:1]
    return body


def answer_text(body: JSON | None) -> str:
    """The first choice's text, for reviewers and datasets."""
    if not body:
        return ""
    choices = body.get("choices") or [{}]
    message = choices[0].get("message") or {}
    content = message.get("content")
    if isinstance(content, str):
        return content
    calls = message.get("tool_calls")
    return orjson.dumps(calls).decode() if calls else ""


async def as_sse(body: JSON, include_usage: bool) -> AsyncIterator[bytes]:
    """A released answer for a caller that asked to stream (and waited for the decision)."""
    for chunk in completion_chunks(body):
        if chunk.get("choices") or include_usage:
            yield b"data: " + orjson.dumps(chunk) + b"\n\n"
    yield b"data: [DONE]\n\n"


def parse_wait(prefer: str | None, cap: float) -> float | None:
    """Seconds from ``Prefer: wait=N`` (RFC 7240), capped; None when not asked."""
    if not prefer:
        return None
    for preference in prefer.split(","):
        name, _, value = preference.strip().partition("=")
        if name.strip().lower() != "wait":
            continue
        try:
            seconds = float(value.strip().strip('"').split(";")[0])
        except ValueError:
            return None
        if seconds != seconds or seconds <= 0:  # NaN or not positive
            return None
        return min(seconds, cap)
    return None


def preference_applied(wait: float | None) -> dict[str, Any]:
    return {"preference-applied": f"wait={wait:g}"} if wait else {}
