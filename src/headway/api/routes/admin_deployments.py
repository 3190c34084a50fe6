"""``GET /admin/deployments``: per route, per deployment — breaker state, failure ratio, load, latency."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from headway.api.openapi import responses
from headway.api.responses import JSONResponse
from headway.api.route_table import Endpoint
from headway.errors import NotFoundError
from headway.routing import deployment_status
from headway.serving import Runtime


async def list_deployments(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    model = request.query_params.get("model")
    if model is not None and model not in runtime.routes:
        raise NotFoundError(f"No model {model!r} is configured", param="model", code="model_not_found")
    data = await deployment_status(runtime.routes, runtime.executor.breakers, model=model)
    return JSONResponse({"object": "list", "data": data})


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "GET", "/admin/deployments", list_deployments, "observe:read",
        {
            "operationId": "listDeployments",
            "parameters": [{"name": "model", "in": "query", "schema": {"type": "string"}}],
            "responses": responses("Per model, per deployment: breaker state, failure ratio, load, latency", 401, 403, 404),
        },
    ),
)
