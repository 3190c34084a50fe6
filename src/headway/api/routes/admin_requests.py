"""``GET /admin/requests`` and ``GET /admin/requests/{id}``: the request log."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from headway.api.openapi import responses
from headway.api.params import query_int
from headway.api.responses import JSONResponse
from headway.api.route_table import Endpoint
from headway.errors import InvalidRequestError, NotFoundError
from headway.serving.runtime import Runtime
from headway.store.base import RequestQuery


async def list_requests(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    status = request.query_params.get("status")
    if status not in (None, "ok", "error"):
        raise InvalidRequestError("'status' must be 'ok' or 'error'", param="status")
    query = RequestQuery(
        limit=query_int(request, "limit", 50, 1, 1000),
        model=request.query_params.get("model"),
        caller=request.query_params.get("caller"),
        team=request.query_params.get("team"),
        status=status,
    )
    records = await asyncio.to_thread(runtime.store.list_requests, query)
    return JSONResponse({"object": "list", "data": [r.to_dict() for r in records]})


async def get_request(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    request_id = request.path_params["request_id"]
    record = await asyncio.to_thread(runtime.store.get_request, request_id)
    if record is None:
        raise NotFoundError(f"No request {request_id!r} in the log", param="request_id")
    return JSONResponse(record.to_dict())


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "GET", "/admin/requests", list_requests, "requests:read",
        {
            "operationId": "listRequests",
            "parameters": [
                {"name": "limit", "in": "query", "schema": {"type": "integer"}},
                {"name": "model", "in": "query", "schema": {"type": "string"}},
                {"name": "caller", "in": "query", "schema": {"type": "string"}},
                {"name": "team", "in": "query", "schema": {"type": "string"}},
                {"name": "status", "in": "query", "schema": {"type": "string"}},
            ],
            "responses": responses("Request records", 400, 401, 403),
        },
    ),
    Endpoint(
        "GET", "/admin/requests/{request_id}", get_request, "requests:read",
        {
            "operationId": "getRequest",
            "parameters": [{"name": "request_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": responses("One request record", 401, 403, 404),
        },
    ),
)
