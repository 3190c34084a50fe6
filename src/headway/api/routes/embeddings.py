"""``POST /v1/embeddings``."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import Response

from headway.api.body import read_json_object
from headway.api.outcome import apply_usage, exhausted_to_api_error
from headway.api.responses import JSONResponse
from headway.api.routes.chat import finish, new_record
from headway.api.runtime import Runtime
from headway.api.validation import validate_embeddings_request
from headway.routing.executor import ExhaustedError


async def embeddings(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    started = time.perf_counter()
    body = await read_json_object(request, runtime.config.server.max_body_bytes)
    model = validate_embeddings_request(body)
    route = runtime.route(model, "embeddings")
    record = new_record(request, "embeddings", model, body)
    try:
        served = await runtime.executor.chat(route, body, record.attempts)
    except ExhaustedError as exc:
        error = exhausted_to_api_error(exc, record.request_id)
        finish(record, started, error.status, error)
        runtime.request_log.record(record)
        raise error from None
    apply_usage(record, served.result.usage, served.deployment)
    record.served_by = served.served_by
    finish(record, started, 200)
    runtime.request_log.record(record)
    return JSONResponse(
        served.result.body, headers={"x-headway-served-by": served.served_by, "x-headway-deployment": served.deployment.id}
    )
