"""Build a ``CallContext`` from an HTTP request (request id, principal, headers)."""

from __future__ import annotations

import time

from starlette.requests import Request

from headway.types import CallContext


def call_context(request: Request) -> CallContext:
    # The scope's state dict itself: Starlette's ``request.state`` answers each attribute
    # through a failed lookup and ``__getattr__`` (~1 µs apiece, six per request).
    state = request.scope.setdefault("state", {})
    try:
        request_id = state["request_id"]
    except KeyError:
        raise AttributeError("request state has no request_id (RequestIdMiddleware not installed?)") from None
    return CallContext(
        request_id=request_id,
        caller=state.get("caller", "anonymous"),
        team=state.get("team"),
        roles=frozenset(state.get("roles") or ()),
        headers=request.headers,
        attributes=dict(state.get("principal_attributes") or {}),
        started=state.get("started") or time.perf_counter(),
    )
