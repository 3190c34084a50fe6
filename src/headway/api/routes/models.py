"""``GET /v1/models`` and ``GET /v1/models/{model}``: the routes clients may name."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from headway.api.openapi import responses
from headway.api.responses import JSONResponse
from headway.api.route_table import Endpoint
from headway.dialects import anthropic_model_list, anthropic_model_object
from headway.errors import NotFoundError
from headway.routing import Route
from headway.serving import Runtime


def _describe(route: Route, created: int) -> dict[str, object]:
    return {"id": route.name, "object": "model", "created": created, "owned_by": "headway", "kind": route.kind}


async def list_models(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    created = int(runtime.started_at)
    if "anthropic-version" in request.headers:  # Anthropic's clients get Anthropic's shape
        return JSONResponse(anthropic_model_list(list(runtime.routes), created))
    return JSONResponse({"object": "list", "data": [_describe(r, created) for r in runtime.routes.values()]})


async def get_model(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    name = request.path_params["model"]
    route = runtime.routes.get(name)
    if route is None:
        raise NotFoundError(f"The model {name!r} does not exist", param="model", code="model_not_found")
    if "anthropic-version" in request.headers:
        return JSONResponse(anthropic_model_object(route.name, int(runtime.started_at)))
    return JSONResponse(_describe(route, int(runtime.started_at)))


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", "/v1/models", list_models, "inference", {"operationId": "listModels", "responses": responses("Models", 401)}),
    Endpoint(
        "GET", "/v1/models/{model:path}", get_model, "inference",
        {
            "operationId": "retrieveModel",
            "parameters": [{"name": "model", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": responses("A model", 401, 404),
        },
    ),
)
