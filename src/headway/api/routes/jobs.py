"""Background requests: the 202 answer of an async chat request, and ``/v1/jobs/{id}``.

``POST /v1/chat/completions`` with ``Prefer: respond-async`` or ``"background": true``
answers ``202 Accepted`` with ``Location`` and the job (``id``, ``object: "job"``,
``status``, ``status_url``); with ``Prefer: respond-async, wait=N`` a job finished
within N seconds is answered in full instead. ``GET /v1/jobs/{id}`` polls, or blocks
until the job ends with ``Prefer: wait=N`` (or ``?wait=N``), both capped by
``jobs.max_wait_s``. ``POST /v1/jobs/{id}/cancel`` stops it.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from headway.api.context import call_context
from headway.api.params import query_int
from headway.api.responses import JSONResponse
from headway.api.route_table import Endpoint
from headway.api.routes.metrics import openapi_reply, query
from headway.errors import InvalidRequestError, ServiceUnavailableError
from headway.jobs import Job, JobService, parse_prefer
from headway.serving import Runtime
from headway.types import JSON, CallContext

JOB_HEADER = "x-headway-job-id"


def jobs_of(request: Request) -> JobService:
    runtime: Runtime = request.app.state.runtime
    if runtime.jobs is None:
        raise ServiceUnavailableError("Jobs and batches need a SQL store (store: sqlite:/// or postgresql://).", code="jobs_unavailable")
    return runtime.jobs


def base_url(request: Request) -> str:
    runtime: Runtime = request.app.state.runtime
    return runtime.config.server.public_url or str(request.base_url)


def page(data: list[JSON], limit: int) -> JSON:
    """OpenAI's cursor page from ``limit + 1`` fetched objects."""
    shown = data[:limit]
    return {
        "object": "list",
        "data": shown,
        "first_id": shown[0]["id"] if shown else None,
        "last_id": shown[-1]["id"] if shown else None,
        "has_more": len(data) > limit,
    }


def _wait_s(request: Request) -> float | None:
    raw = request.query_params.get("wait")
    if raw is not None:
        try:
            value = float(raw)
        except ValueError:
            raise InvalidRequestError("'wait' must be a number of seconds", param="wait", code="invalid_value") from None
        if not 0 <= value <= 3600:
            raise InvalidRequestError("'wait' must be between 0 and 3600 seconds", param="wait", code="invalid_value")
        return value
    return parse_prefer(request.headers.get("prefer")).wait_s


def _job_response(job: Job, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(job.to_wire(), status_code=status_code, headers={JOB_HEADER: job.id, **(headers or {})})


async def submit_background(request: Request, ctx: CallContext, body: JSON) -> Response:
    """The chat route's asynchronous branch: store the request as a job and answer 202."""
    service = jobs_of(request)
    job = await service.submit(ctx, body, status_url_base=base_url(request))
    wait_s = parse_prefer(request.headers.get("prefer")).wait_s
    applied = "respond-async"
    if wait_s:
        job = await service.wait(ctx, job.id, wait_s)
        applied = f"respond-async, wait={wait_s:g}"
        if job.status == "completed" and job.result is not None:
            return JSONResponse(job.result, headers={JOB_HEADER: job.id, "preference-applied": applied})
    headers = {"location": job.status_url or "", "preference-applied": applied, "retry-after": "1"}
    return _job_response(job, 202, headers)


async def get_job(request: Request) -> Response:
    service = jobs_of(request)
    ctx = call_context(request)
    job_id = request.path_params["job_id"]
    wait_s = _wait_s(request)
    job = await service.wait(ctx, job_id, wait_s) if wait_s else await service.job(ctx, job_id)
    return _job_response(job)


async def cancel_job(request: Request) -> Response:
    job = await jobs_of(request).cancel(call_context(request), request.path_params["job_id"])
    return _job_response(job)


async def list_jobs(request: Request) -> Response:
    limit = query_int(request, "limit", 20, 1, 100)
    status = request.query_params.get("status")
    if status is not None and status not in ("queued", "in_progress", "completed", "failed", "cancelled"):
        raise InvalidRequestError("'status' must be queued, in_progress, completed, failed or cancelled", param="status")
    jobs = await jobs_of(request).list_jobs(call_context(request), limit=limit + 1, status=status)
    return JSONResponse(page([job.to_wire() for job in jobs], limit))


_JOB_ID = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "GET", "/v1/jobs", list_jobs, "inference",
        {
            "operationId": "listJobs",
            "tags": ["jobs"],
            "parameters": [query("limit", "At most this many (1-100)", {"type": "integer"}), query("status", "Only jobs in this status")],
            "responses": openapi_reply("The caller's background requests, newest first", 400, 401, 403, 503),
        },
    ),
    Endpoint(
        "GET", "/v1/jobs/{job_id}", get_job, "inference",
        {
            "operationId": "retrieveJob",
            "tags": ["jobs"],
            "parameters": [
                _JOB_ID,
                query("wait", "Block up to this many seconds for the job to end (or Prefer: wait=N)", {"type": "number"}),
            ],
            "responses": openapi_reply("The job: status, and the chat.completion once done", 400, 401, 403, 404, 503),
        },
    ),
    Endpoint(
        "POST", "/v1/jobs/{job_id}/cancel", cancel_job, "inference",
        {
            "operationId": "cancelJob",
            "tags": ["jobs"],
            "parameters": [_JOB_ID],
            "responses": openapi_reply("The job, cancelled or cancelling", 400, 401, 403, 404, 503),
        },
    ),
)
