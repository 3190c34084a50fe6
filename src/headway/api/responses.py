"""Response helpers: orjson-encoded JSON and OpenAI-shaped errors."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from headway.errors import APIError


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_response(error: APIError, request_id: str | None = None) -> JSONResponse:
    body = error.to_body()
    if request_id and "request_id" not in body["error"]:
        body["error"]["request_id"] = request_id
    headers = dict(error.headers)
    return JSONResponse(body, status_code=error.status, headers=headers)
