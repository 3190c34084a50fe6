"""The review stage of the request path, as ``serving.chat`` calls it.

- ``screen`` runs after the input guards: a request a ``hold`` policy covers skips the
  cache (an unreviewed answer must never be stored or served from it) and, when it asked
  to stream, is answered whole (``upstream_body`` drops ``stream``);
- ``review_answer`` runs after the model answered and the output contract was checked:
  ``hold`` stores the item, finishes the request's record (status 202, through the
  ``finish_record`` serving passes in) and answers the caller with the decision when
  ``Prefer: wait=N`` saw one in time, else a typed ``409 review_pending`` error (or the
  202 ticket for a caller that sent ``Prefer: review=ticket``); ``audit`` lets
  the answer go and stores the item off the hot path;
- ``review_contract_failure``: an answer that broke its output contract under a policy
  matching ``contract_failed`` is held with no answer, for a reviewer to write or reject;
- ``audited_stream``: a streamed answer under ``audit`` is assembled as it passes and,
  once the stream has ended cleanly, judged again (answer conditions, classifiers) and
  stored when a policy still matches.

A classifier's own request (``ctx.origin == classifier.ORIGIN``) is never screened.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

import orjson

from headway.errors import APIError, ServiceUnavailableError, StoreUnavailableError
from headway.review.classifier import ORIGIN as CLASSIFIER_ORIGIN
from headway.review.items import ReviewItem
from headway.review.policy import Match
from headway.review.release import Answer, answer, as_sse, parse_wait, preference_applied, wants_ticket
from headway.review.service import NOT_SCREENED, ReviewService, Screening
from headway.types import JSON, CallContext, RequestRecord, header

_STREAM_KEYS = ("stream", "stream_options")


class FinishRecord(Protocol):
    """Finishes the request's record with a status (``serving``'s ``RecordedCall.close``)."""

    def __call__(self, status: int) -> None: ...


class _Runtime(Protocol):
    @property
    def review(self) -> ReviewService | None: ...


def screen(runtime: _Runtime, ctx: CallContext, model: str, body: JSON, record: RequestRecord) -> Screening:
    if runtime.review is None or ctx.origin == CLASSIFIER_ORIGIN:  # a classifier's own call is never reviewed
        return NOT_SCREENED
    # A refused review_webhook URL raises an APIError; serving records it like every other refusal.
    return runtime.review.screen(ctx.request_id, model, ctx.team, body, record.quality)


def upstream_body(body: JSON, screening: Screening) -> JSON:
    """A held request is answered whole, even when it asked to stream."""
    if screening.holds and body.get("stream"):
        return {k: v for k, v in body.items() if k not in _STREAM_KEYS}
    return body


async def review_answer(
    runtime: _Runtime,
    ctx: CallContext,
    body: JSON,
    record: RequestRecord,
    result: JSON,
    screening: Screening,
    finish_record: FinishRecord,
) -> Answer | None:
    """The caller's answer when the request is held; None when the answer goes out now."""
    service = runtime.review
    if service is None or ctx.origin == CLASSIFIER_ORIGIN or service.settled_at_screen(screening, record):
        return None
    match = await service.judge(ctx, record, body, result)  # classifiers asked here, when a policy needs one
    held_before = screening.match
    if held_before is not None and held_before.holds and not held_before.config.match.on_output and (match is None or not match.holds):
        match = held_before  # never release what was going to be held (unless only the answer could decide it)
    if match is not None and match.holds:
        return await _hold(service, ctx, body, record, result, match, finish_record)
    if match is not None:  # audit: the answer goes now, the item is stored off the hot path
        item = service.new_item(record, body, result, match, caller=ctx.caller, headers=ctx.headers)
        record.quality["review"] = item.quality()
        service.create_later(item, actor=ctx.caller)
    if screening.holds and body.get("stream"):  # kept back in case it was held, released now: as the stream asked for
        return Answer(body=result, chunks=as_sse(result, bool((body.get("stream_options") or {}).get("include_usage"))))
    return None


async def review_contract_failure(
    runtime: _Runtime, ctx: CallContext, body: JSON, record: RequestRecord, finish_record: FinishRecord
) -> Answer | None:
    service = runtime.review
    # No classifier is asked here: nothing was answered, and a policy that needs one holds (fail closed).
    match = service.rescreen(record, body) if service is not None and ctx.origin != CLASSIFIER_ORIGIN else None
    if service is None or match is None or not match.holds or not match.config.match.contract_failed:
        return None
    return await _hold(service, ctx, body, record, None, match, finish_record)


async def _hold(
    service: ReviewService,
    ctx: CallContext,
    body: JSON,
    record: RequestRecord,
    result: JSON | None,
    match: Match,
    finish_record: FinishRecord,
) -> Answer:
    item = service.new_item(record, body, result, match, caller=ctx.caller, headers=ctx.headers)
    try:
        await service.create(item, actor=ctx.caller)
    except StoreUnavailableError:
        # Fail closed: an answer that needs review is never released without a durable item.
        raise ServiceUnavailableError(
            "This answer must be reviewed before release, and the review queue cannot be reached; retry later.",
            code="review_unavailable",
            headers={"retry-after": "5"},
        ) from None
    record.quality["review"] = item.quality()
    finish_record(202)  # the held request's record is written now, before waiting for a decision
    prefer = header(ctx.headers, "prefer")
    wait = parse_wait(prefer, service.config.max_wait_s)
    current: ReviewItem = item
    if wait:
        current = await service.waiters.wait(item.review_id, wait) or item
    try:  # raises ReviewRejectedError when refused, ReviewPendingError while open (unless a ticket was asked for)
        reply = answer(current, as_ticket=wants_ticket(prefer))
    except APIError as error:
        error.headers.update(preference_applied(wait))
        raise
    reply.headers.update(preference_applied(wait))
    if reply.status == 200 and body.get("stream"):
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        reply.chunks = as_sse(reply.body, include_usage)
    return reply


class _Assembler:
    """Rebuilds a ``chat.completion`` from the SSE chunks a client was sent (text content only)."""

    def __init__(self) -> None:
        self.head: JSON = {}
        self.choices: dict[int, JSON] = {}
        self.usage: Any = None
        self.done = False
        self._pending = b""

    def feed(self, data: bytes) -> None:
        self._pending += data
        while b"\n\n" in self._pending:
            event, self._pending = self._pending.split(b"\n\n", 1)
            for line in event.split(b"\n"):
                if line.startswith(b"data: "):
                    self._line(line[6:])

    def _line(self, payload: bytes) -> None:
        if payload.strip() == b"[DONE]":
            self.done = True
            return
        try:
            chunk = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return
        if "error" in chunk:
            return
        self.head = self.head or {k: chunk.get(k) for k in ("id", "created", "model")}
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            index = int(choice.get("index") or 0)
            entry = self.choices.setdefault(index, {"index": index, "content": [], "finish_reason": None})
            content = (choice.get("delta") or {}).get("content")
            if isinstance(content, str):
                entry["content"].append(content)
            if choice.get("finish_reason"):
                entry["finish_reason"] = choice["finish_reason"]

    def completion(self) -> JSON:
        choices = [
            {
                "index": c["index"],
                "message": {"role": "assistant", "content": "".join(c["content"])},
                "logprobs": None,
                "finish_reason": c["finish_reason"] or "stop",
            }
            for c in sorted(self.choices.values(), key=lambda c: c["index"])
        ]
        body: JSON = {**self.head, "object": "chat.completion", "choices": choices}
        if self.usage is not None:
            body["usage"] = self.usage
        return body


async def audited_stream(
    runtime: _Runtime, ctx: CallContext, body: JSON, record: RequestRecord, chunks: AsyncIterator[bytes], screening: Screening
) -> AsyncIterator[bytes]:
    """The stream as it was, and once it has ended cleanly the finished answer is judged again:
    the audit policy's answer conditions (and its classifier) decide whether an item is stored."""
    service = runtime.review
    assert screening.match is not None and service is not None
    assembler = _Assembler()
    judged = False
    async for chunk in chunks:
        assembler.feed(chunk)
        yield chunk
        if assembler.done and not judged:
            # After [DONE] went out and before the stream ends: its record is still open for the verdict.
            judged = True
            answer = assembler.completion()
            match = await service.judge(ctx, record, body, answer)
            if match is not None:
                item = service.new_item(record, body, answer, match, caller=ctx.caller, headers=ctx.headers)
                record.quality["review"] = item.quality()
                service.create_later(item, actor=ctx.caller)
