"""Build and finish request records; every path through serving ends in exactly one record."""

from __future__ import annotations

import time
from typing import Any

from headway.errors import APIError
from headway.serving.context import CallContext
from headway.types import RequestRecord


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


def finish(record: RequestRecord, ctx: CallContext, status: int, error: APIError | None = None) -> None:
    record.status_code = status
    record.latency_ms = round((time.perf_counter() - ctx.started) * 1000, 3)
    if error is not None:
        record.error_type = error.code or error.type
        record.error_message = error.message[:1000]
