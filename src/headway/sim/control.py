"""The control plane under ``/sim/``: inspect what was received and steer faults live.

Not authenticated and not counted in the stats: it is for the tests and the operator
rehearsing failures, never exposed as a model endpoint.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from headway.errors import ConfigError
from headway.sim.faults import UnknownFaultError, fault_kind
from headway.sim.scenario import Scenario
from headway.sim.state import STATE

DEFAULT_REQUEST_LIMIT = 50


def _json(payload: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(payload), status=status, content_type="application/json")


def _bad(message: str) -> web.Response:
    return _json({"error": {"message": message, "type": "invalid_request_error"}}, 400)


async def _body(request: web.Request) -> Any:
    try:
        return orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return None


async def get_stats(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return _json({**state.recorder.snapshot(), "queued_faults": state.queue.to_json()})


async def reset(request: web.Request) -> web.Response:
    request.app[STATE].reset()
    return _json({"reset": True})


async def get_requests(request: web.Request) -> web.Response:
    raw = request.query.get("limit", str(DEFAULT_REQUEST_LIMIT))
    if not raw.isdigit():
        return _bad("limit must be a non-negative integer")
    return _json({"requests": request.app[STATE].recorder.recent(int(raw))})


async def get_scenario(request: web.Request) -> web.Response:
    return _json(request.app[STATE].scenario.model_dump(mode="json"))


async def put_scenario(request: web.Request) -> web.Response:
    try:
        scenario = Scenario.from_data(await _body(request))
    except ConfigError as exc:
        return _bad(f"invalid scenario: {exc}")
    request.app[STATE].use(scenario)
    return _json(scenario.model_dump(mode="json"))


async def post_faults(request: web.Request) -> web.Response:
    body = await _body(request)
    if not isinstance(body, dict) or not isinstance(body.get("fault"), str):
        return _bad('expected {"fault": KIND, "model": NAME | null, "count": N}')
    model, count = body.get("model"), body.get("count", 1)
    if model is not None and not isinstance(model, str):
        return _bad("model must be a string or null")
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        return _bad("count must be a positive integer")
    try:
        kind = fault_kind(body["fault"])
    except UnknownFaultError as exc:
        return _bad(str(exc))
    state = request.app[STATE]
    if kind is not None:
        state.queue.add(kind, model=model, count=count)
    return _json({"queued": state.queue.to_json()})


async def get_faults(request: web.Request) -> web.Response:
    return _json({"queued": request.app[STATE].queue.to_json()})


async def clear_faults(request: web.Request) -> web.Response:
    request.app[STATE].queue.clear()
    return _json({"queued": []})


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/sim/stats", get_stats)
    router.add_post("/sim/reset", reset)
    router.add_get("/sim/requests", get_requests)
    router.add_get("/sim/scenario", get_scenario)
    router.add_put("/sim/scenario", put_scenario)
    router.add_post("/sim/faults", post_faults)
    router.add_get("/sim/faults", get_faults)
    router.add_delete("/sim/faults", clear_faults)
