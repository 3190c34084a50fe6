"""Build a ``CallContext`` from an HTTP request (request id, principal, headers)."""

from __future__ import annotations

import time

from starlette.requests import Request

from headway.types import CallContext


def call_context(request: Request) -> CallContext:
    state = request.state
    return CallContext(
        request_id=state.request_id,
        caller=getattr(state, "caller", "anonymous"),
        team=getattr(state, "team", None),
        roles=frozenset(getattr(state, "roles", ()) or ()),
        headers=request.headers,
        attributes=dict(getattr(state, "principal_attributes", {}) or {}),
        started=getattr(state, "started", None) or time.perf_counter(),
    )
