"""The Batch API (OpenAI's shape): create from an uploaded JSONL file, poll, list, cancel."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from headway.api.body import read_json_object
from headway.api.context import call_context
from headway.api.responses import JSONResponse
from headway.api.routes.jobs import int_param, jobs_of, page

_MAX_CREATE_BODY = 64 * 1024


async def create_batch(request: Request) -> Response:
    service = jobs_of(request)
    body = await read_json_object(request, _MAX_CREATE_BODY)
    batch = await service.batches.create(
        call_context(request),
        input_file_id=body.get("input_file_id"),
        endpoint=body.get("endpoint"),
        completion_window=body.get("completion_window"),
        metadata=body.get("metadata"),
    )
    return JSONResponse(batch.to_wire())


async def get_batch(request: Request) -> Response:
    batch = await jobs_of(request).batches.batch(call_context(request), request.path_params["batch_id"])
    return JSONResponse(batch.to_wire())


async def list_batches(request: Request) -> Response:
    limit = int_param(request, "limit", 20, 1, 100)
    batches = await jobs_of(request).batches.list(call_context(request), after=request.query_params.get("after"), limit=limit + 1)
    return JSONResponse(page([b.to_wire() for b in batches], limit))


async def cancel_batch(request: Request) -> Response:
    service = jobs_of(request)
    batch = await service.batches.cancel(call_context(request), request.path_params["batch_id"], service.signal)
    return JSONResponse(batch.to_wire())
