"""Build request records, and finish each exactly once: ``recorded`` is the only place that does.

Every ``serve_*`` function runs its body through ``recorded``: whatever the body raises,
the record is finished and handed to the request log once — an ``APIError`` with its
status, a cancellation as 499, any other exception as a 500 ``internal_error`` — and the
exception goes on to the caller. A reply that ends the call finishes the record with its
status; a stream takes the record over (``RecordedCall.stream``) and finishes it when it
ends; a held answer finishes it early (202) before waiting for a reviewer. The first
``close`` wins, so no path can write two records.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from headway.errors import APIError
from headway.types import CallContext, RequestRecord


class RequestSink(Protocol):
    def record(self, record: RequestRecord) -> None: ...


class _Reply(Protocol):
    @property
    def status(self) -> int: ...


ReplyT = TypeVar("ReplyT", bound=_Reply)
ChunksT = TypeVar("ChunksT")


def new_record(ctx: CallContext, endpoint: str, model: str, body: dict[str, Any]) -> RequestRecord:
    metadata = body.get("metadata")
    return RequestRecord(
        request_id=ctx.request_id,
        endpoint=endpoint,
        model=model,
        caller=ctx.caller,
        team=ctx.team,
        stream=bool(body.get("stream")),
        metadata=dict(metadata) if isinstance(metadata, dict) else {},
    )


class RecordedCall:
    """One call's record, and the single way to finish it and hand it to the request log."""

    __slots__ = ("_log", "closed", "ctx", "record", "streaming")

    def __init__(self, log: RequestSink, ctx: CallContext, record: RequestRecord) -> None:
        self._log = log
        self.ctx = ctx
        self.record = record
        self.closed = False
        self.streaming = False

    def close(self, status: int, error_type: str | None = None, error_message: str | None = None) -> None:
        """Finish the record with ``status`` and hand it to the request log; later calls do nothing."""
        if self.closed:
            return
        self.closed = True
        record = self.record
        record.status_code = status
        record.latency_ms = round((time.perf_counter() - self.ctx.started) * 1000, 3)
        if error_type is not None:
            record.error_type = error_type
            record.error_message = (error_message or "")[:1000]
        self._log.record(record)

    def fail(self, error: BaseException) -> None:
        if isinstance(error, APIError):
            self.close(error.status, error.code or error.type, error.message)
        elif isinstance(error, asyncio.CancelledError):
            self.close(499, "client_disconnected", "the client went away before the answer")
        else:  # a bug: the record names its type; the message (maybe holding data) stays in the log
            self.close(500, "internal_error", f"unexpected {type(error).__name__}; see the server log")

    def stream(self, chunks: ChunksT) -> ChunksT:
        """The stream ``chunks`` finishes this record when it ends; the reply no longer does."""
        self.streaming = True
        return chunks


async def recorded(
    log: RequestSink, ctx: CallContext, record: RequestRecord, serve: Callable[[RecordedCall], Awaitable[ReplyT]]
) -> ReplyT:
    """Run ``serve`` so that the call ends in exactly one record, whatever happens."""
    call = RecordedCall(log, ctx, record)
    ctx.record = record
    try:
        reply = await serve(call)
    except BaseException as error:
        call.fail(error)
        raise
    if not call.streaming:
        call.close(reply.status)
    return reply
