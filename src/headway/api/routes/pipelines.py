"""Pipelines (admin): ``GET /admin/pipelines``, runs (list, trigger) and quarantined rows."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from headway.api.openapi import loose_responses
from headway.api.responses import JSONResponse
from headway.api.route_table import Endpoint
from headway.errors import InvalidRequestError, ServiceUnavailableError
from headway.pipelines import PipelineRepository, PipelineService
from headway.serving import Runtime


def _pipelines(request: Request) -> PipelineService:
    runtime: Runtime = request.app.state.runtime
    if runtime.pipelines is None:
        raise ServiceUnavailableError("pipelines need a SQL store", code="pipelines_unavailable")
    return runtime.pipelines


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


_NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}
_LIMIT = {"name": "limit", "in": "query", "schema": {"type": "integer"}}

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "GET", "/admin/pipelines", list_pipelines, "pipelines:read",
        {
            "operationId": "listPipelines",
            "responses": loose_responses("Pipelines and their last runs", 401, 403, 503),
        },
    ),
    Endpoint(
        "GET", "/admin/pipelines/{name}/runs", pipeline_runs, "pipelines:read",
        {
            "operationId": "listPipelineRuns",
            "parameters": [_NAME, _LIMIT],
            "responses": loose_responses("Runs, newest first", 400, 401, 403, 404, 503),
        },
    ),
    Endpoint(
        "POST", "/admin/pipelines/{name}/runs", trigger_pipeline, "pipelines:write",
        {
            "operationId": "runPipeline",
            "parameters": [_NAME],
            "responses": {
                **loose_responses("A run is already queued or running", 401, 403, 404, 503),
                "202": {"description": "Queued"},
            },
        },
    ),
    Endpoint(
        "GET", "/admin/pipelines/{name}/quarantine", pipeline_quarantine, "pipelines:read",
        {
            "operationId": "listQuarantine",
            "parameters": [_NAME, _LIMIT, {"name": "run_id", "in": "query", "schema": {"type": "string"}}],
            "responses": loose_responses(
                "Quarantined rows of a run (default: the latest that set rows aside)", 400, 401, 403, 404, 503
            ),
        },
    ),
)
