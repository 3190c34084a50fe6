"""``GET /admin/audit`` (read the trail) and ``GET /admin/audit/verify`` (check the hash chain)."""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from headway.api.params import query_int
from headway.api.responses import JSONResponse
from headway.api.route_table import Endpoint
from headway.api.routes.admin_keys import OPENAPI_TAG
from headway.auth import AuditLog
from headway.errors import ServiceUnavailableError
from headway.serving import Runtime


def _log(runtime: Runtime) -> AuditLog:
    if runtime.audit.log is None:
        raise ServiceUnavailableError("The audit trail needs a SQL store; this gateway has none.", code="audit_unavailable")
    return runtime.audit.log


async def list_audit(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    limit = query_int(request, "limit", 100, 1, 1000) or 100
    after = query_int(request, "after_seq", None, 0, 2**62)
    action = request.query_params.get("action") or None
    await runtime.audit.flush()
    records = await asyncio.to_thread(_log(runtime).records, limit=limit, after_seq=after, action=action)
    return JSONResponse({"object": "list", "data": [r.to_dict() for r in records]})


async def verify_audit(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    await runtime.audit.flush()
    report = await asyncio.to_thread(_log(runtime).verify)
    return JSONResponse(report.to_dict())


_ERR = {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "required": ["message", "type"]}}}


def _reply(description: str, *codes: int) -> dict[str, Any]:
    out: dict[str, Any] = {"200": {"description": description, "content": {"application/json": {"schema": {"type": "object"}}}}}
    for code in codes:
        out[str(code)] = {"description": "Error in OpenAI's shape", "content": {"application/json": {"schema": _ERR}}}
    return out


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "GET", "/admin/audit", list_audit, "audit:read",
        {
            "operationId": "listAudit",
            "tags": [OPENAPI_TAG],
            "parameters": [
                {"name": "limit", "in": "query", "schema": {"type": "integer"}},
                {"name": "after_seq", "in": "query", "schema": {"type": "integer"}},
                {"name": "action", "in": "query", "schema": {"type": "string"}},
            ],
            "responses": _reply("Audit records, newest first (or oldest first after `after_seq`)", 400, 401, 403, 503),
        },
    ),
    Endpoint(
        "GET", "/admin/audit/verify", verify_audit, "audit:read",
        {"operationId": "verifyAudit", "tags": [OPENAPI_TAG], "responses": _reply("The chain check: ok, and every problem named", 401, 403, 503)},
    ),
)
