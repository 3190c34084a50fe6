"""``/healthz`` (the process is alive) and ``/readyz`` (it can serve: config loaded, store reachable)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from headway.api.responses import JSONResponse
from headway.serving.runtime import Runtime


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    readiness = await runtime.readiness()
    reasons = [f"{name}: {check.get('error', 'not ok')}" for name, check in readiness.checks.items() if not check["ok"]]
    return JSONResponse(
        {"status": "ready" if readiness.ready else "not_ready", "checks": readiness.checks, "reasons": reasons},
        status_code=200 if readiness.ready else 503,
    )
