"""``GET /metrics`` (Prometheus), ``GET /admin/cost`` (cost per caller, team, model) and ``GET /admin/alerts``."""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

from starlette.requests import Request
from starlette.responses import Response

from headway.api.responses import JSONResponse
from headway.api.route_table import Endpoint
from headway.errors import InvalidRequestError, NotFoundError, ServiceUnavailableError
from headway.observe import CONTENT_TYPE, GROUP_COLUMNS, GroupBy, Observability, cost_by, parse_time, totals
from headway.serving import Runtime


def _observability(request: Request) -> Observability:
    runtime: Runtime = request.app.state.runtime
    return runtime.observability


async def prometheus(request: Request) -> Response:
    metrics = _observability(request).metrics
    if not metrics.enabled:
        raise NotFoundError("Metrics are off (observe.metrics.enabled: false)", code="metrics_disabled")
    # Callback gauges may read the store (alert state): render off the event loop.
    body = await asyncio.to_thread(metrics.render)
    return Response(body, media_type=CONTENT_TYPE.split(";")[0], headers={"content-type": CONTENT_TYPE})


def time_param(request: Request, name: str, now: float) -> float | None:
    raw = request.query_params.get(name)
    return parse_time(raw, now=now, param=name) if raw is not None and raw != "" else None


async def cost(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    group_by = request.query_params.get("group_by", "caller")
    if group_by not in GROUP_COLUMNS:
        raise InvalidRequestError(f"'group_by' must be one of {', '.join(GROUP_COLUMNS)}", param="group_by")
    now = time.time()
    since = time_param(request, "since", now)
    until = time_param(request, "until", now)
    if since is not None and until is not None and until <= since:
        raise InvalidRequestError("'until' must be after 'since'", param="until")
    filters = {name: value for name in GROUP_COLUMNS if (value := request.query_params.get(name))}
    rows = await asyncio.to_thread(cost_by, runtime.store.database, cast(GroupBy, group_by), since=since, until=until, filters=filters)
    return JSONResponse(
        {
            "object": "cost_report",
            "group_by": group_by,
            "since": since,
            "until": until,
            "filters": filters,
            "currency": "USD",
            "data": [row.to_dict(group_by) for row in rows],
            "total": totals(rows),
        }
    )


async def alerts(request: Request) -> Response:
    observability = _observability(request)
    store = observability.alert_states
    if store is None:
        raise ServiceUnavailableError("Alerts need the SQL store", code="store_unavailable")
    states = {s.rule: s for s in await asyncio.to_thread(store.states)}
    incidents = await asyncio.to_thread(store.incidents, limit=50)
    rules = []
    for rule in observability.config.alerts.rules:
        state = states.get(rule.name)
        rules.append(
            {
                **rule.model_dump(),
                "state": state.state if state else "ok",
                "since": state.since if state else None,
                "value": state.value if state else None,
                "incident_id": state.incident_id if state else None,
            }
        )
    return JSONResponse({"object": "alerts", "rules": rules, "incidents": [i.to_dict() for i in incidents]})


# -- OpenAPI ------------------------------------------------------------------------------------

_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["message", "type"], "properties": {"message": {"type": "string"}, "type": {"type": "string"}}}},
}


def openapi_reply(description: str, *codes: int, ok: str = "200", media: str = "application/json") -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"} if media != "application/json" else {"type": "object"}
    out: dict[str, Any] = {ok: {"description": description, "content": {media: {"schema": schema}}}}
    for code in codes:
        out[str(code)] = {"description": "Error in OpenAI's shape", "content": {"application/json": {"schema": _ERROR_SCHEMA}}}
    return out


def query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "description": description, "schema": schema or {"type": "string"}}


TIME_HELP = "Epoch seconds, ISO 8601, or a duration back from now (30m, 24h, 7d)."

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "GET", "/metrics", prometheus, "observe:read",
        {
            "operationId": "prometheusMetrics",
            "tags": ["observe"],
            "responses": openapi_reply("Prometheus text exposition format", 401, 404, media="text/plain"),
        },
    ),
    Endpoint(
        "GET", "/admin/cost", cost, "observe:read",
        {
            "operationId": "costReport",
            "tags": ["observe"],
            "parameters": [
                query("group_by", "Group totals by", {"type": "string", "enum": list(GROUP_COLUMNS)}),
                query("since", TIME_HELP),
                query("until", TIME_HELP),
                *(query(name, f"Only this {name}") for name in GROUP_COLUMNS),
            ],
            "responses": openapi_reply("Cost, requests and tokens per group", 400, 401, 403, 503),
        },
    ),
    Endpoint(
        "GET", "/admin/alerts", alerts, "observe:read",
        {
            "operationId": "listAlerts",
            "tags": ["observe"],
            "responses": openapi_reply("Alert rules with their state, and recent incidents", 401, 403, 503),
        },
    ),
)
