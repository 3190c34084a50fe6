"""``GET /openapi.json``: the document built from the route table when the app was made."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from headway.api.openapi import responses
from headway.api.responses import JSONResponse
from headway.api.route_table import Endpoint
from headway.auth import PUBLIC


async def openapi_document(request: Request) -> Response:
    return JSONResponse(request.app.state.openapi)


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "GET", "/openapi.json", openapi_document, PUBLIC,
        {"operationId": "openapiDocument", "responses": responses("This OpenAPI document")},
    ),
)
