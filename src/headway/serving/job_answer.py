"""What a stored request's reply becomes as the jobs part's ``Answer`` (background jobs, batch
lines, background Responses): status, body and the record's usage and cost."""

from __future__ import annotations

from headway.errors import APIError
from headway.jobs import Answer, error_answer
from headway.serving.chat import Reply, StreamReply


async def job_answer(reply: Reply | StreamReply, request_id: str, *, what: str) -> Answer:
    """``what`` names the stored thing in the refusal when it (wrongly) came back as a stream."""
    if isinstance(reply, StreamReply):  # cannot happen with stream false; never leave a stream open
        aclose = getattr(reply.chunks, "aclose", None)
        if aclose is not None:
            await aclose()
        return error_answer(APIError(f"{what} cannot stream", status=400, type="invalid_request_error"), request_id)
    record = reply.record
    return Answer(
        status_code=reply.status,
        body=reply.body,
        request_id=request_id,
        cost_usd=float(record.cost_usd or 0.0),
        input_tokens=record.input_tokens,
        output_tokens=record.output_tokens,
        cached_tokens=record.cache_read_tokens,
        reasoning_tokens=record.reasoning_tokens,
    )
