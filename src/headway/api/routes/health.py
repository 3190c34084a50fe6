"""``/healthz`` (the process is alive) and ``/readyz`` (it can serve: config loaded, store reachable;
shared state reachable or, while it is not, serving on its local fallback)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from headway.api.openapi import responses
from headway.api.responses import JSONResponse
from headway.api.route_table import Endpoint
from headway.auth import PUBLIC
from headway.serving import Runtime


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    readiness = await runtime.readiness()
    reasons = [f"{name}: {check.get('error', 'not ok')}" for name, check in readiness.checks.items() if not check["ok"]]
    # Serving, but on a fallback (e.g. local limits while Redis is away): ready, and says so.
    degraded = [name for name, check in readiness.checks.items() if check.get("degraded")]
    status = "not_ready" if not readiness.ready else ("degraded" if degraded else "ready")
    return JSONResponse(
        {"status": status, "checks": readiness.checks, "reasons": reasons, "degraded": degraded},
        status_code=200 if readiness.ready else 503,
    )


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", "/healthz", healthz, PUBLIC, {"operationId": "healthz", "responses": responses("Alive")}),
    Endpoint(
        "GET", "/readyz", readyz, PUBLIC,
        {"operationId": "readyz", "responses": {**responses("Ready"), "503": {"description": "Not ready"}}},
    ),
)
