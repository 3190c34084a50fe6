"""The chat request path, independent of HTTP: used by the API, background jobs and batches.

``serve_chat`` validates, routes and calls the model and returns either a complete
``Reply`` or a ``StreamReply`` whose chunks are SSE-encoded bytes. Each runs inside
``records.recorded``, so every call ends in exactly one request record, whatever is
raised; errors reach the caller after the record is written.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, TypeVar

import orjson

from headway.admission import Grant
from headway.cache import Lookup
from headway.errors import APIError, UpstreamError
from headway.retrieval import HEADER as RETRIEVAL_HEADER
from headway.retrieval import augment
from headway.review import Answer, audited_stream, review_answer, review_contract_failure, upstream_body
from headway.review import screen as review_screen
from headway.routing import Deployment, ExhaustedError, OpenedStream, Route, replayed_stream
from headway.serving.continuation import PartialAnswer, continuation_request, provider_types, relabel
from headway.serving.outcome import apply_usage, exhausted_to_api_error
from headway.serving.parts import ServingParts
from headway.serving.records import RecordedCall, new_record, recorded
from headway.serving.validation import validate_chat_request, validate_embeddings_request
from headway.types import JSON, CallContext, RequestRecord, Usage

_DONE = b"data: [DONE]\n\n"

log = logging.getLogger("headway.serving")


@dataclass(slots=True)
class Reply:
    body: JSON
    record: RequestRecord
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class StreamReply:
    chunks: AsyncIterator[bytes]
    record: RequestRecord
    headers: dict[str, str] = field(default_factory=dict)
    status: int = 200  # the HTTP status; the record keeps the stream's logical outcome


class _HasHeaders(Protocol):
    headers: dict[str, str]


ReplyT = TypeVar("ReplyT", bound=_HasHeaders)


def with_grant(reply: ReplyT, grant: Grant | None) -> ReplyT:
    """Add the ``x-ratelimit-*`` headers of an admitted request to its reply."""
    if grant is not None and grant.headers:
        reply.headers.update(grant.headers)
    return reply


def served_headers(record: RequestRecord) -> dict[str, str]:
    headers = {"x-headway-served-by": record.served_by or "primary"}
    if record.deployment:
        headers["x-headway-deployment"] = record.deployment
    if record.served_by == "stale-cache":
        headers["x-headway-stale"] = "true"
    retrieval = record.quality.get("retrieval")
    if retrieval:  # RAG outcome: hit | miss | failed
        headers[RETRIEVAL_HEADER] = str(retrieval.get("status"))
    return headers


async def serve_chat(
    runtime: ServingParts, ctx: CallContext, body: dict[str, Any], *, endpoint: str = "chat.completions"
) -> Reply | StreamReply:
    """``endpoint`` names the record's endpoint: other dialects (``responses``, ``messages``) are chat underneath."""
    model = validate_chat_request(body, translated=endpoint != "chat.completions")
    record = new_record(ctx, endpoint, model, body)
    return await recorded(runtime.request_log, ctx, record, lambda call: _chat(runtime, call, body, model))


async def _chat(runtime: ServingParts, call: RecordedCall, body: dict[str, Any], model: str) -> Reply | StreamReply:
    ctx, record = call.ctx, call.record
    runtime.auth.check_model(ctx.attributes, model, actor=ctx.caller, request_id=ctx.request_id)
    route = runtime.route(model, "chat")
    admitting = runtime.admission.consider(ctx, route, body)  # rate/token limits, budgets, queue ticket; 429s
    grant = await admitting if admitting is not None else None
    body = runtime.guards.inspect_chat(body, record)  # limits, injection heuristics, upstream PII redaction
    screening = review_screen(runtime, ctx, model, body, record)  # human review: a held answer never uses the cache
    lookup = None if screening.holds else await runtime.cache.lookup(ctx, route, body)  # exact, then semantic
    if lookup is not None and lookup.hit is not None:
        return with_grant(_cached_reply(runtime, call, body, lookup), grant)
    rag = await augment(runtime.retrieval, route, body, record, ctx.attributes.get("allowed_collections"))  # RAG
    if body.get("stream") and not screening.holds:  # a held stream is answered whole (202, or the decision)
        reply = await _serve_stream(runtime, call, body, route_name=model, lookup=lookup)
        if screening.match is not None:  # audit: the streamed answer is stored for review once it ends
            reply.chunks = audited_stream(runtime, ctx, body, record, reply.chunks, screening)
        return with_grant(reply, grant)
    try:
        served = await runtime.executor.complete(route, upstream_body(body, screening), record, stale=lookup, residency=ctx.attributes.get("residency"))
    except ExhaustedError as exc:
        if exc.contract_error is not None and (held := await review_contract_failure(runtime, ctx, body, record, call.close)):
            return with_grant(_held_reply(held, record), grant)
        raise _exhausted_error(runtime, ctx, route.name, exc, record) from None
    apply_usage(record, served.result.usage, served.deployment)
    record.served_by = served.served_by
    answer = rag.decorate(served.result.body)
    held = await review_answer(runtime, ctx, body, record, answer, screening, call.close)  # hold: 202 or the decision
    if held is not None:
        return with_grant(_held_reply(held, record), grant)
    await runtime.cache.remember(lookup, served)
    return with_grant(Reply(body=answer, record=record, headers=served_headers(record)), grant)


def _exhausted_error(runtime: ServingParts, ctx: CallContext, route_name: str, exc: ExhaustedError, record: RequestRecord) -> APIError:
    error = exhausted_to_api_error(exc, record.request_id)
    return runtime.auth.explain_residency(route_name, error, exc.attempts, ctx.attributes)


def _held_reply(held: Answer, record: RequestRecord) -> Reply | StreamReply:
    headers = {**served_headers(record), **held.headers}
    if held.chunks is not None:
        return StreamReply(chunks=held.chunks, record=record, headers=headers)
    return Reply(body=held.body, record=record, status=held.status, headers=headers)


async def serve_embeddings(runtime: ServingParts, ctx: CallContext, body: dict[str, Any]) -> Reply:
    model = validate_embeddings_request(body)
    record = new_record(ctx, "embeddings", model, body)
    return await recorded(runtime.request_log, ctx, record, lambda call: _embeddings(runtime, call, body, model))


async def _embeddings(runtime: ServingParts, call: RecordedCall, body: dict[str, Any], model: str) -> Reply:
    ctx, record = call.ctx, call.record
    runtime.auth.check_model(ctx.attributes, model, actor=ctx.caller, request_id=ctx.request_id)
    route = runtime.route(model, "embeddings")
    admitting = runtime.admission.consider(ctx, route, body)
    grant = await admitting if admitting is not None else None
    body = runtime.guards.inspect_embeddings(body, record)
    try:
        served = await runtime.executor.complete(route, body, record, residency=ctx.attributes.get("residency"))
    except ExhaustedError as exc:
        raise _exhausted_error(runtime, ctx, route.name, exc, record) from None
    apply_usage(record, served.result.usage, served.deployment)
    record.served_by = served.served_by
    return with_grant(Reply(body=served.result.body, record=record, headers=served_headers(record)), grant)


async def _serve_stream(
    runtime: ServingParts, call: RecordedCall, body: dict[str, Any], *, route_name: str, lookup: Lookup | None = None
) -> StreamReply:
    ctx, record = call.ctx, call.record
    route = runtime.route(route_name, "chat")
    try:
        opened = await runtime.executor.open(route, body, record, stale=lookup, residency=ctx.attributes.get("residency"))
    except ExhaustedError as exc:
        raise _exhausted_error(runtime, ctx, route.name, exc, record) from None
    record.served_by = opened.served_by
    record.deployment = opened.deployment.id if opened.deployment else None
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    resume = _resumer(runtime, route, body, record, ctx) if route.config.continue_streams else None
    chunks = call.stream(_sse(runtime, call, opened, include_usage, messages=body.get("messages") or [], resume=resume))
    return StreamReply(chunks=chunks, record=record, headers=served_headers(record))


def _resumer(runtime: ServingParts, route: Route, body: JSON, record: RequestRecord, ctx: CallContext) -> Resume:
    """Open the stream that continues a cut one: the route's deployments, then its fallbacks."""

    async def resume(partial: str, cut: Deployment | None) -> OpenedStream | None:
        # Not the deployment that was just cut: its other deployments, else its fallbacks.
        others = replace(route, deployments=[d for d in route.deployments if d is not cut])
        chain = [runtime.route(name, "chat") for name in route.config.fallback_chain("error")]
        types = provider_types(d for r in (others, *chain) for d in r.deployments)
        request = continuation_request(body, partial, types)
        try:
            following = await runtime.executor.open(others, request, record, residency=ctx.attributes.get("residency"))
        except ExhaustedError:
            return None
        if following.deployment is None:  # a stale or fixed answer replays a whole answer: no continuation
            aclose = getattr(following.rest, "aclose", None)
            if aclose is not None:
                await aclose()
            return None
        return following

    return resume


_CHARS_PER_TOKEN = 4  # the estimate guards/limits.py uses too: a record, not an invoice


def _output_chars(chunk: JSON) -> int:
    """Characters of answer a chunk carries (text, refusal, tool-call names and arguments)."""
    count = 0
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta") or {}
        for key in ("content", "refusal", "reasoning_content"):
            value = delta.get(key)
            if isinstance(value, str):
                count += len(value)
        for call in delta.get("tool_calls") or ():
            function = call.get("function") or {}
            for key in ("name", "arguments"):
                value = function.get(key)
                if isinstance(value, str):
                    count += len(value)
    return count


def _delivered_usage(usage: Usage | None, prompt_chars: int, output_chars: int) -> Usage:
    """Usage of a stream that ended without the provider's count: what reached the client.

    Never below what the provider did report (Anthropic counts the prompt at the start)."""
    estimated_in = -(-prompt_chars // _CHARS_PER_TOKEN)
    estimated_out = -(-output_chars // _CHARS_PER_TOKEN)
    if usage is None:
        return Usage(input_tokens=estimated_in, output_tokens=estimated_out)
    return Usage(
        input_tokens=usage.input_tokens or estimated_in,
        output_tokens=max(usage.output_tokens, estimated_out),
        cache_read_tokens=usage.cache_read_tokens,
        reasoning_tokens=usage.reasoning_tokens,
    )


Resume = Callable[[str, Deployment | None], Awaitable[OpenedStream | None]]
_MAX_CONTINUATIONS = 1  # one more deployment per cut: a second cut ends in the error event


@dataclass(slots=True)
class _Segment:
    """One upstream stream that fed the client: its books are closed once, when it ends."""

    opened: OpenedStream
    first_at: float
    usage: Usage | None = None
    output_chars: int = 0
    ended: bool = False


async def _sse(
    runtime: ServingParts,
    call: RecordedCall,
    opened: OpenedStream,
    include_usage: bool,
    *,
    messages: Any = None,
    resume: Resume | None = None,
) -> AsyncIterator[bytes]:
    """The SSE chunks of an opened stream; its record is finished once, when the stream ends.

    With ``resume`` (``continue_streams``), a stream cut after partial text continues from the
    stream ``resume`` opens, relabelled as the same stream (``continuation.py``)."""
    sized: list[int] = []

    def prompt_chars() -> int:
        # The prompt's size feeds only the usage estimate of a cut or continued stream: measured
        # then, not before the first token (serialising a long conversation costs ~1 µs per KB).
        if not sized:
            sized.append(len(orjson.dumps(messages)) if messages is not None else 0)
        return sized[0]

    ctx, record = call.ctx, call.record
    segment = _Segment(opened, time.perf_counter())
    record.ttft_ms = round((segment.first_at - ctx.started) * 1000, 3)
    done: list[tuple[_Segment, UpstreamError]] = []  # earlier segments, cut and continued
    partial = PartialAnswer()
    error: UpstreamError | None = None
    unexpected: Exception | None = None
    completed = False
    try:
        while True:
            try:
                event = segment.opened.first
                while True:
                    if event.usage is not None:
                        segment.usage = event.usage
                    chunk: JSON | None = relabel(event.chunk, partial) if done else event.chunk
                    if chunk is not None and done and isinstance(chunk.get("usage"), dict):
                        chunk["usage"] = _with_earlier(chunk["usage"], [earlier for earlier, _ in done], prompt_chars())
                    # Headway always asks upstream for usage; clients that did not ask never see that chunk.
                    if chunk is not None and (include_usage or chunk.get("choices") or event.usage is None):
                        segment.output_chars += _output_chars(chunk)
                        partial.add(chunk)
                        yield b"data: " + orjson.dumps(chunk) + b"\n\n"
                    try:
                        event = await segment.opened.rest.__anext__()
                    except StopAsyncIteration:
                        break
                break
            except UpstreamError as exc:
                if resume is None or len(done) >= _MAX_CONTINUATIONS or not partial.continuable or not partial.chunks:
                    raise
                await _end_segment(runtime, record, segment, exc)
                done.append((segment, exc))
                following = await resume(partial.finish(), segment.opened.deployment)
                if following is None:
                    segment = done.pop()[0]  # nothing to continue from: end as if never tried
                    raise
                segment = _Segment(following, time.perf_counter())
        yield _DONE
        completed = True
    except UpstreamError as exc:
        error = exc
        # A failure after the first byte cannot fall back: end with an error event the SDK raises on.
        yield b"data: " + orjson.dumps(stream_error(exc, record.request_id)) + b"\n\n"
    except Exception as exc:  # a bug mid-stream: the head (200) is gone, so end with an error event
        unexpected = exc
        log.exception("unhandled error mid-stream", extra={"request_id": record.request_id})
        yield b"data: " + orjson.dumps(internal_stream_error(record.request_id)) + b"\n\n"
    finally:
        try:
            aclose = getattr(segment.opened.rest, "aclose", None)
            if aclose is not None and not completed:
                await aclose()
            await _end_segment(runtime, record, segment, error)
            if not completed and segment.opened.deployment is not None and segment.output_chars:
                segment.usage = _delivered_usage(segment.usage, prompt_chars(), segment.output_chars)
                record.quality["usage"] = "estimated from what reached the client"
            _apply_segments(record, [(earlier, prompt_chars()) for earlier, _ in done], segment)
            if done:
                record.served_by = f"{done[0][0].opened.served_by}+continued"
        except Exception as exc:  # the record is still written, once, naming the failure
            log.exception("unhandled error ending a stream", extra={"request_id": record.request_id})
            unexpected, completed = exc, False
        # The HTTP status (200) went out with the head; the record keeps the logical outcome.
        if completed:
            call.close(200)
        elif error is not None:
            call.close(502, "stream_interrupted", error.message)
        elif unexpected is not None:
            call.fail(unexpected)
        else:
            call.close(499, "client_disconnected", "client went away mid-stream")


def _with_earlier(usage: JSON, earlier: list[_Segment], prompt_chars: int) -> JSON:
    """The client's usage chunk of a continued stream: every part's tokens, as the record has them."""
    parts = [_delivered_usage(segment.usage, prompt_chars, segment.output_chars) for segment in earlier]
    combined = dict(usage)
    for key, extra in (
        ("prompt_tokens", sum(p.input_tokens for p in parts)),
        ("completion_tokens", sum(p.output_tokens for p in parts)),
    ):
        if isinstance(combined.get(key), int):
            combined[key] += extra
    if isinstance(combined.get("total_tokens"), int):
        combined["total_tokens"] += sum(p.input_tokens + p.output_tokens for p in parts)
    return combined


async def _end_segment(runtime: ServingParts, record: RequestRecord, segment: _Segment, error: UpstreamError | None) -> None:
    """Close one upstream stream's books (attempt, load, breaker) once."""
    if segment.opened.deployment is None or segment.ended:
        return
    segment.ended = True
    attempt = await runtime.executor.end_stream(segment.opened, error=error, first_at=segment.first_at)
    if attempt is not None:
        record.attempts.append(attempt)


def _apply_segments(record: RequestRecord, earlier: list[tuple[_Segment, int]], last: _Segment) -> None:
    """Tokens and cost of every segment: a continued stream's record adds them up."""
    if not earlier:
        if last.usage is not None:
            apply_usage(record, last.usage, last.opened.deployment)
        return
    input_tokens = output_tokens = 0
    cost = 0.0
    parts: list[JSON] = []
    for segment, prompt_chars in [*earlier, (last, 0)]:
        usage = segment.usage
        if segment is not last or usage is None:  # a cut part counts what reached the client
            usage = _delivered_usage(usage, prompt_chars, segment.output_chars)
        deployment = segment.opened.deployment
        apply_usage(record, usage, deployment)
        input_tokens += record.input_tokens or 0
        output_tokens += record.output_tokens or 0
        cost += record.cost_usd or 0.0
        parts.append(
            {
                "deployment": deployment.id if deployment else None,
                "input_tokens": record.input_tokens,
                "output_tokens": record.output_tokens,
                "cost_usd": record.cost_usd,
            }
        )
    record.input_tokens, record.output_tokens, record.cost_usd = input_tokens, output_tokens, cost
    record.quality["continuation"] = parts


def _cached_reply(runtime: ServingParts, call: RecordedCall, body: dict[str, Any], lookup: Lookup) -> Reply | StreamReply:
    """A cache hit: no upstream attempt, no cost; streams get the answer replayed as chunks."""
    assert lookup.hit is not None
    record = call.record
    cached = lookup.hit.entry.answer()
    record.quality["cache"] = lookup.quality()
    record.served_by, record.cost_usd = "cache", 0.0
    if body.get("stream"):
        opened = replayed_stream(cached, "cache")
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        chunks = call.stream(_sse(runtime, call, opened, include_usage))
        return StreamReply(chunks=chunks, record=record, headers=served_headers(record))
    return Reply(body=cached, record=record, headers=served_headers(record))


# What a client is told when a stream fails after it started: Headway's words, by kind. The
# transport's own text (aiohttp's "TransferEncodingError: 400, …") stays in the record's attempt.
_STREAM_FAILURES = {
    "stream_cut": "the provider closed the stream before the answer was complete",
    "timeout": "the provider stopped sending within the time allowed",
    "connection": "the connection to the provider was lost",
    "bad_response": "the provider sent a chunk Headway could not read",
    "rate_limit": "the provider rate-limited the stream",
    "server_error": "the provider reported an error",
}


def stream_error(exc: UpstreamError, request_id: str) -> dict[str, Any]:
    reason = _STREAM_FAILURES.get(exc.kind, "the provider's stream failed")
    return {
        "error": {
            "message": f"The answer was interrupted after it started ({exc.kind}): {reason} (request {request_id}).",
            "type": "upstream_error",
            "param": None,
            "code": "stream_interrupted",
            "request_id": request_id,
        }
    }


def internal_stream_error(request_id: str) -> dict[str, Any]:
    return {
        "error": {
            "message": f"Internal error in Headway; the request id identifies it in the logs (request {request_id}).",
            "type": "server_error",
            "param": None,
            "code": "internal_error",
            "request_id": request_id,
        }
    }
