"""Data-plane endpoints: ``POST /v1/retrieve`` and the pipeline/collection admin views.

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
from headway.pipelines.repository import PipelineRepository
from headway.pipelines.service import PipelineService
from headway.retrieval.service import Retriever
from headway.serving.runtime import Runtime

_FILTER_VALUE = (str, int, float, bool)


def _retriever(request: Request) -> Retriever:
    runtime: Runtime = request.app.state.runtime
    if runtime.retrieval is None:
        raise ServiceUnavailableError("retrieval needs a SQL store", code="retrieval_unavailable")
    return runtime.retrieval


def _pipelines(request: Request) -> PipelineService:
    runtime: Runtime = request.app.state.runtime
    if runtime.pipelines is None:
        raise ServiceUnavailableError("pipelines need a SQL store", code="pipelines_unavailable")
    return runtime.pipelines


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


async def list_pipelines(request: Request) -> Response:
    service = _pipelines(request)
    latest = await asyncio.to_thread(service.repository.latest_runs)
    data = []
    for name, definition in service.config.definitions.items():
        run = latest.get(name)
        data.append(
            {
                "name": name,
                "source": definition.source.type,
                "collection": service.config.collection_of(name),
                "schedule": definition.schedule.model_dump(exclude_none=True)
                if definition.schedule
                else None,
                "last_run": run.to_json() if run else None,
            }
        )
    return JSONResponse({"object": "list", "data": data})


def _limit(request: Request, default: int = 20, high: int = 1000) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= high:
        raise InvalidRequestError(f"'limit' must be an integer between 1 and {high}", param="limit")
    return int(raw)


async def pipeline_runs(request: Request) -> Response:
    service = _pipelines(request)
    name = request.path_params["name"]
    service.pipeline(name)
    runs = await asyncio.to_thread(service.repository.history, name, _limit(request))
    return JSONResponse({"object": "list", "data": [r.to_json() for r in runs]})


async def pipeline_quarantine(request: Request) -> Response:
    service = _pipelines(request)
    name = request.path_params["name"]
    service.pipeline(name)
    repository: PipelineRepository = service.repository
    rows = await asyncio.to_thread(
        lambda: repository.quarantine(
            name, run_id=request.query_params.get("run_id"), limit=_limit(request, 100)
        )
    )
    return JSONResponse({"object": "list", "data": [r.to_json() for r in rows]})


async def trigger_pipeline(request: Request) -> Response:
    service = _pipelines(request)
    name = request.path_params["name"]
    job = await service.enqueue(name, trigger="api")
    if job is None:
        return JSONResponse(
            {"queued": False, "reason": "a run is already queued or running"}, status_code=200
        )
    return JSONResponse({"queued": True, "job": job.to_json()}, status_code=202)


def _reply(ok: str, *codes: int) -> dict[str, Any]:
    error = {
        "description": "Error in OpenAI's shape",
        "content": {"application/json": {"schema": {"type": "object", "required": ["error"]}}},
    }
    return {
        "200": {"description": ok, "content": {"application/json": {"schema": {"type": "object"}}}},
        **{str(c): error for c in codes},
    }


_NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
_LIMIT = {"name": "limit", "in": "query", "schema": {"type": "integer"}}

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
            "responses": _reply("Ranked passages", 400, 401, 403, 404, 413, 415, 502, 503, 504),
        },
    ),
    Endpoint(
        "GET", "/admin/collections", list_collections, "pipelines:read",
        {"operationId": "listCollections", "responses": _reply("Collections", 401, 403, 503)},
    ),
    Endpoint(
        "GET", "/admin/pipelines", list_pipelines, "pipelines:read",
        {
            "operationId": "listPipelines",
            "responses": _reply("Pipelines and their last runs", 401, 403, 503),
        },
    ),
    Endpoint(
        "GET", "/admin/pipelines/{name}/runs", pipeline_runs, "pipelines:read",
        {
            "operationId": "listPipelineRuns",
            "parameters": [_NAME, _LIMIT],
            "responses": _reply("Runs, newest first", 400, 401, 403, 404, 503),
        },
    ),
    Endpoint(
        "POST", "/admin/pipelines/{name}/runs", trigger_pipeline, "pipelines:write",
        {
            "operationId": "runPipeline",
            "parameters": [_NAME],
            "responses": {
                **_reply("A run is already queued or running", 401, 403, 404, 503),
                "202": {"description": "Queued"},
            },
        },
    ),
    Endpoint(
        "GET", "/admin/pipelines/{name}/quarantine", pipeline_quarantine, "pipelines:read",
        {
            "operationId": "listQuarantine",
            "parameters": [_NAME, _LIMIT, {"name": "run_id", "in": "query", "schema": {"type": "string"}}],
            "responses": _reply(
                "Quarantined rows of a run (default: the latest that set rows aside)", 400, 401, 403, 404, 503
            ),
        },
    ),
)
