"""``GET /admin/requests`` and ``GET /admin/requests/{id}``: the request log."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from headway.api.openapi import responses
from headway.api.params import query_int
from headway.api.responses import JSONResponse
from headway.api.route_table import Endpoint
from headway.console import Explore, ExploreError, explore_records, parse_explore_time
from headway.errors import InvalidRequestError, NotFoundError
from headway.serving import Runtime


async def list_requests(request: Request) -> Response:
    """Newest first, filtered like the console's explorer; ``next_cursor`` fetches the next page."""
    runtime: Runtime = request.app.state.runtime
    params = request.query_params
    try:
        query = Explore(
            since=parse_explore_time(params.get("since"), "since"),
            until=parse_explore_time(params.get("until"), "until"),
            path=params.get("path") or None,
            status=params.get("status") or None,
            error_type=params.get("error_type") or None,
            model=params.get("model") or None,
            caller=params.get("caller") or None,
            team=params.get("team") or None,
            review=params.get("review") or None,
            cursor=params.get("cursor") or None,
            limit=query_int(request, "limit", 50, 1, 1000),
        )
        records, next_cursor = await asyncio.to_thread(explore_records, runtime.store.database, query)
    except ExploreError as exc:
        raise InvalidRequestError(str(exc), param=exc.param) from None
    return JSONResponse(
        {"object": "list", "data": [r.to_dict() for r in records], "has_more": next_cursor is not None, "next_cursor": next_cursor}
    )


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
                {"name": "status", "in": "query", "schema": {"type": "string", "enum": ["ok", "error", "4xx", "5xx"]}},
                {"name": "path", "in": "query", "description": "Served path",
                 "schema": {"type": "string", "enum": ["primary", "retry", "hedge", "fallback", "cache", "stale-cache", "degraded", "error"]}},
                {"name": "error_type", "in": "query", "schema": {"type": "string"}},
                {"name": "review", "in": "query", "schema": {"type": "string"}},
                {"name": "since", "in": "query", "description": "UTC time (2026-01-31T14:05) or epoch seconds", "schema": {"type": "string"}},
                {"name": "until", "in": "query", "description": "UTC time, exclusive", "schema": {"type": "string"}},
                {"name": "cursor", "in": "query", "description": "next_cursor of the previous page", "schema": {"type": "string"}},
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
