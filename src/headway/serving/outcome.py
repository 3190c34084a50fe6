"""Turn the executor's outcome into the request record and into client-facing errors."""

from __future__ import annotations

from headway.errors import (
    APIError,
    GatewayTimeoutError,
    InvalidRequestError,
    RateLimitError,
    UpstreamFailedError,
)
from headway.observe import cost_usd
from headway.routing import Deployment, ExhaustedError
from headway.types import RequestRecord, Usage


def apply_usage(record: RequestRecord, usage: Usage, deployment: Deployment | None) -> None:
    record.input_tokens = usage.input_tokens
    record.output_tokens = usage.output_tokens
    record.cache_read_tokens = usage.cache_read_tokens
    record.reasoning_tokens = usage.reasoning_tokens
    if deployment is None:  # answered by Headway itself (cache, stale cache, fixed degraded text)
        record.cost_usd = 0.0
        return
    record.cost_usd = cost_usd(usage, deployment.price)
    record.deployment = deployment.id


def exhausted_to_api_error(exc: ExhaustedError, request_id: str) -> APIError:
    """The clear error after every path failed: it names the request and lists the attempts."""
    attempts = [
        {
            "deployment": a.deployment,
            "outcome": a.outcome,
            "error": a.error_type,
            "status": a.status,
            "message": a.error_message,
        }
        for a in exc.attempts
    ]
    extra = {"request_id": request_id, "attempts": attempts}
    if exc.contract_error is not None:
        return APIError(
            f"No answer met the output contract after repairs and fallbacks (request {request_id}): {exc.contract_error}",
            status=422,
            type="invalid_response_error",
            code="output_contract_failed",
            extra=extra,
        )
    last = exc.last
    summary = "; ".join(f"{a.deployment}: {a.error_type}" for a in exc.attempts) or "no deployment was available"
    if last is None:
        return UpstreamFailedError(f"No deployment could serve the request (request {request_id}).", extra=extra)
    if last.kind == "client_error":
        status = last.status if last.status and 400 <= last.status < 500 else 400
        return InvalidRequestError(f"The provider rejected the request: {last.message}", status=status, code="upstream_rejected", extra=extra)
    if last.kind == "context_window":
        return InvalidRequestError(f"The request exceeds the model's context window: {last.message}", code="context_length_exceeded", extra=extra)
    if last.kind == "content_filter":
        return InvalidRequestError(f"The provider's content filter refused the request: {last.message}", code="content_filter", extra=extra)
    if last.kind == "rate_limit":
        retry = last.retry_after
        headers = {"retry-after": str(max(1, round(retry)))} if retry is not None else {}
        return RateLimitError(
            f"Every deployment is rate limited upstream (request {request_id}): {summary}",
            code="upstream_rate_limited",
            headers=headers,
            extra=extra,
        )
    if last.kind == "timeout":
        return GatewayTimeoutError(f"The model did not answer in time (request {request_id}): {summary}", extra=extra)
    return UpstreamFailedError(f"Every deployment failed (request {request_id}): {summary}", extra=extra)
