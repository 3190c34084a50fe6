"""Exception handlers: every error leaves as OpenAI's error shape with the request id."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from headway.api.responses import error_response
from headway.errors import APIError, NotFoundError, ServiceUnavailableError, StoreUnavailableError

log = logging.getLogger("headway.api")

_HTTP_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
}


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


async def api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, APIError)
    return error_response(exc, _request_id(request))


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        error: APIError = NotFoundError(f"Unknown path {request.method} {request.url.path}", code="unknown_url")
    else:
        error = APIError(
            str(exc.detail),
            status=exc.status_code,
            type=_HTTP_TYPES.get(exc.status_code, "invalid_request_error"),
            code="method_not_allowed" if exc.status_code == 405 else None,
            headers=dict(exc.headers or {}),
        )
    return error_response(error, _request_id(request))


async def unexpected_error(request: Request, exc: Exception) -> Response:
    error: APIError
    if isinstance(exc, StoreUnavailableError):
        # An outage (store.errors decided), not a bug: a 503 the client may retry, no traceback.
        log.warning("store unavailable: %s", exc, extra={"request_id": _request_id(request)})
        error = ServiceUnavailableError(
            "The store cannot be reached right now; retry shortly.", code="store_unavailable", headers={"retry-after": "1"}
        )
    else:
        # A bug, never a client's fault: log it with the request id, answer without internals.
        log.exception("unhandled error", extra={"request_id": _request_id(request)})
        error = APIError("Internal error in Headway; the request id identifies it in the logs.", status=500, type="server_error", code="internal_error")
    response = error_response(error, _request_id(request))
    # This handler runs outside the request-id middleware, so it adds the header itself.
    request_id = _request_id(request)
    if request_id:
        response.headers["x-request-id"] = request_id
    return response
