"""The Batch API (OpenAI's shape): create from an uploaded JSONL file, poll, list, cancel."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from headway.api.body import read_json_object
from headway.api.context import call_context
from headway.api.params import query_int
from headway.api.responses import JSONResponse
from headway.api.route_table import Endpoint
from headway.api.routes.jobs import jobs_of, page
from headway.api.routes.metrics import openapi_reply, query

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
    limit = query_int(request, "limit", 20, 1, 100)
    batches = await jobs_of(request).batches.list(call_context(request), after=request.query_params.get("after"), limit=limit + 1)
    return JSONResponse(page([b.to_wire() for b in batches], limit))


async def cancel_batch(request: Request) -> Response:
    service = jobs_of(request)
    batch = await service.batches.cancel(call_context(request), request.path_params["batch_id"], service.signal)
    return JSONResponse(batch.to_wire())


_BATCH_ID = {"name": "batch_id", "in": "path", "required": True, "schema": {"type": "string"}}

CREATE_BATCH = {
    "type": "object",
    "required": ["input_file_id", "endpoint", "completion_window"],
    "properties": {
        "input_file_id": {"type": "string"},
        "endpoint": {"type": "string", "enum": ["/v1/chat/completions", "/v1/embeddings"]},
        "completion_window": {"type": "string", "description": "24h (OpenAI's only value) or any N[s|m|h|d] up to the configured maximum"},
        "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "POST", "/v1/batches", create_batch, "inference",
        {
            "operationId": "createBatch",
            "tags": ["batches"],
            "requestBody": {"required": True, "content": {"application/json": {"schema": CREATE_BATCH}}},
            "responses": openapi_reply("The batch (validated: every line's model exists)", 400, 401, 403, 404, 413, 415, 503),
        },
    ),
    Endpoint(
        "GET", "/v1/batches", list_batches, "inference",
        {
            "operationId": "listBatches",
            "tags": ["batches"],
            "parameters": [
                query("after", "The last id of the previous page"),
                query("limit", "At most this many (1-100)", {"type": "integer"}),
            ],
            "responses": openapi_reply("The caller's batches, newest first", 400, 401, 403, 503),
        },
    ),
    Endpoint(
        "GET", "/v1/batches/{batch_id}", get_batch, "inference",
        {
            "operationId": "retrieveBatch",
            "tags": ["batches"],
            "parameters": [_BATCH_ID],
            "responses": openapi_reply("A batch, with its progress and cost_usd", 401, 403, 404, 503),
        },
    ),
    Endpoint(
        "POST", "/v1/batches/{batch_id}/cancel", cancel_batch, "inference",
        {
            "operationId": "cancelBatch",
            "tags": ["batches"],
            "parameters": [_BATCH_ID],
            "responses": openapi_reply("The batch, cancelling", 400, 401, 403, 404, 503),
        },
    ),
)
