"""``POST /admin/config/reload``: re-read the config file this process was started with, and switch to it.

Validated and built beside the running runtime first; a file that fails changes nothing
and the 400 names the file, the key path and what was expected. ``headway serve`` also
reloads on SIGHUP (``api/reload.py`` does the work for both).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from headway.api.openapi import responses
from headway.api.responses import JSONResponse
from headway.api.route_table import Endpoint
from headway.errors import ConflictError


async def reload_config(request: Request) -> Response:
    reloader = getattr(request.app.state, "reloader", None)
    if reloader is None:
        raise ConflictError(
            "this gateway was not started by `headway serve --config FILE`, so it has no file to reload",
            code="reload_unavailable",
        )
    result = await reloader.reload(actor=getattr(request.state, "caller", "anonymous"),
                                   request_id=getattr(request.state, "request_id", None), relay=True)
    return JSONResponse(result.to_dict())


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "POST", "/admin/config/reload", reload_config, "operations",
        {
            "operationId": "reloadConfig",
            "summary": "Reload the config file; in-flight requests finish on the old runtime",
            "responses": responses("Reloaded: fingerprints before and after, changed key paths", 400, 401, 403, 409),
        },
    ),
)
