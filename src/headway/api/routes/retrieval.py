"""Retrieval: ``POST /v1/retrieve`` and ``GET /admin/collections``.

``/v1/retrieve`` honours the caller's readable collections
(``CallContext.attributes["allowed_collections"]``, set by access control; absent: all).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from headway.api.body import read_json_object
from headway.api.context import call_context
from headway.api.openapi import loose_responses
from headway.api.responses import JSONResponse
from headway.api.route_table import Endpoint
from headway.errors import (
    GatewayTimeoutError,
    InvalidRequestError,
    PermissionDeniedError,
    ServiceUnavailableError,
    StoreUnavailableError,
    UpstreamError,
    UpstreamFailedError,
)
from headway.retrieval import Retriever
from headway.serving import Runtime

_FILTER_VALUE = (str, int, float, bool)


def _retriever(request: Request) -> Retriever:
    runtime: Runtime = request.app.state.runtime
    if runtime.retrieval is None:
        raise ServiceUnavailableError("retrieval needs a SQL store", code="retrieval_unavailable")
    return runtime.retrieval


def _validate(body: dict[str, Any]) -> tuple[str, str, int, dict[str, Any]]:
    collection, query = body.get("collection"), body.get("query")
    if not isinstance(collection, str) or not collection:
        raise InvalidRequestError("'collection' must be a non-empty string", param="collection")
    if not isinstance(query, str) or not query.strip():
        raise InvalidRequestError("'query' must be a non-empty string", param="query")
    k = body.get("k", 5)
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 100:
        raise InvalidRequestError("'k' must be an integer between 1 and 100", param="k")
    filters = body.get("filters")
    filters = {} if filters is None else filters
    if not isinstance(filters, dict):
        raise InvalidRequestError("'filters' must be an object", param="filters")
    for name, value in filters.items():
        values = value if isinstance(value, list) else [value]
        if not values or not all(isinstance(v, _FILTER_VALUE) for v in values):
            raise InvalidRequestError(
                f"'filters.{name}' must be a scalar or a non-empty array of scalars", param=f"filters.{name}"
            )
    mode = body.get("mode")
    if mode is not None and mode not in ("lexical", "vector", "hybrid"):
        raise InvalidRequestError("'mode' must be one of lexical, vector, hybrid", param="mode")
    unknown = set(body) - {"collection", "query", "k", "filters", "mode"}
    if unknown:
        raise InvalidRequestError(f"unknown keys: {', '.join(sorted(unknown))}", param=sorted(unknown)[0])
    return collection, query, k, filters


async def retrieve(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    body = await read_json_object(request, runtime.config.server.max_body_bytes)
    collection, query, k, filters = _validate(body)
    mode = body.get("mode")
    allowed = call_context(request).attributes.get("allowed_collections")
    if allowed is not None and collection not in allowed:
        raise PermissionDeniedError(
            f"You may not read collection {collection!r}", param="collection", code="collection_forbidden"
        )
    retriever = _retriever(request)
    started = time.perf_counter()
    try:
        result = await asyncio.wait_for(
            retriever.retrieve(collection, query, k, filters, mode), runtime.config.retrieval.timeout_s
        )
    except TimeoutError:
        retriever.outcomes["failed"] += 1
        raise GatewayTimeoutError(
            f"retrieval took longer than {runtime.config.retrieval.timeout_s}s", code="retrieval_timeout"
        ) from None
    except UpstreamError as exc:
        retriever.outcomes["failed"] += 1
        raise UpstreamFailedError(
            f"embedding the query failed: {exc.message}", code="retrieval_failed"
        ) from None
    except StoreUnavailableError as exc:
        retriever.outcomes["failed"] += 1
        raise ServiceUnavailableError(f"the index is unavailable: {exc}", code="retrieval_failed") from None
    retriever.outcomes["hit" if result.passages else "miss"] += 1
    return JSONResponse(
        {
            "object": "list",
            "collection": result.collection,
            "version": result.version,
            "query": query,
            "mode": result.mode,
            "served_mode": result.served,
            "fallback": result.fallback,
            "data": [p.to_json() for p in result.passages],
            "latency_ms": round((time.perf_counter() - started) * 1000, 3),
        }
    )


async def list_collections(request: Request) -> Response:
    retriever = _retriever(request)
    collections = await retriever.collections()
    return JSONResponse({"object": "list", "data": [dataclasses.asdict(c) for c in collections]})


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "POST", "/v1/retrieve", retrieve, "inference",
        {
            "operationId": "retrieve",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["collection", "query"],
                            "properties": {
                                "collection": {"type": "string"},
                                "query": {"type": "string"},
                                "k": {"type": "integer", "minimum": 1, "maximum": 100},
                                "filters": {"type": "object"},
                                "mode": {"type": "string", "enum": ["lexical", "vector", "hybrid"]},
                            },
                        }
                    }
                },
            },
            "responses": loose_responses("Ranked passages", 400, 401, 403, 404, 413, 415, 502, 503, 504),
        },
    ),
    Endpoint(
        "GET", "/admin/collections", list_collections, "pipelines:read",
        {"operationId": "listCollections", "responses": loose_responses("Collections", 401, 403, 503)},
    ),
)
