"""Store who submitted a job, and rebuild their ``CallContext`` in whichever worker runs it.

Access control puts live objects on ``CallContext.attributes`` (the principal, its
allow-lists, the residency constraint). A job may run in another process hours later,
so those are written as tagged JSON and rebuilt, and the job is served with exactly the
rights it was submitted with. Credentials never reach the store: the request headers
kept are an allow-list of hints.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from headway.auth import AllowList, Principal, Residency
from headway.types import JSON, CallContext

log = logging.getLogger("headway.jobs")

# Request headers that change how a request is served, and are safe to keep.
_KEPT_HEADERS = ("cache-control", "x-headway-", "x-sim-", "traceparent", "tracestate")


def _kept_header(name: str) -> bool:
    return any(name == h or (h.endswith("-") and name.startswith(h)) for h in _KEPT_HEADERS)


def _encode(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, AllowList):
        return {"__type__": "AllowList", "groups": [list(g) for g in value.groups]}
    if isinstance(value, Residency):
        return {
            "__type__": "Residency",
            "regions": sorted(value.regions) if value.regions is not None else None,
            "data_class": value.data_class,
            "levels": list(value.levels),
        }
    if isinstance(value, Principal):
        return {
            "__type__": "Principal",
            "name": value.name,
            "kind": value.kind,
            "team": value.team,
            "roles": sorted(value.roles),
            "permissions": sorted(value.permissions),
            "models": _encode(value.models),
            "routes": _encode(value.routes),
            "collections": _encode(value.collections),
            "data_class": value.data_class,
            "regions": sorted(value.regions) if value.regions is not None else None,
            "via": value.via,
            "key_id": value.key_id,
        }
    if isinstance(value, frozenset | set):
        return {"__type__": "set", "items": sorted(_encode(v) for v in value)}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    raise TypeError(type(value).__name__)


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    kind = value.get("__type__")
    if kind == "AllowList":
        return AllowList.of(*value["groups"])
    if kind == "Residency":
        regions = value["regions"]
        return Residency(frozenset(regions) if regions is not None else None, value["data_class"], tuple(value["levels"]))
    if kind == "set":
        return frozenset(value["items"])
    if kind == "Principal":
        regions = value["regions"]
        return Principal(
            name=value["name"],
            kind=value["kind"],
            team=value["team"],
            roles=frozenset(value["roles"]),
            permissions=frozenset(value["permissions"]),
            models=_decode(value["models"]),
            routes=_decode(value["routes"]),
            collections=_decode(value["collections"]),
            data_class=value["data_class"],
            regions=frozenset(regions) if regions is not None else None,
            via=value["via"],
            key_id=value["key_id"],
        )
    return {k: _decode(v) for k, v in value.items()}


def encode_context(ctx: CallContext) -> JSON:
    attributes: JSON = {}
    for name, value in ctx.attributes.items():
        try:
            attributes[name] = _encode(value)
        except TypeError as exc:  # an attribute this module does not know how to keep
            log.warning("job context: attribute %r (%s) is not kept", name, exc)
    headers = {k.lower(): v for k, v in ctx.headers.items() if _kept_header(k.lower())}
    return {"caller": ctx.caller, "team": ctx.team, "roles": sorted(ctx.roles), "attributes": attributes, "headers": headers}


def decode_context(data: JSON, *, request_id: str, origin: str, priority: str, deadline: float | None = None) -> CallContext:
    return CallContext(
        request_id=request_id,
        caller=str(data.get("caller") or "anonymous"),
        team=data.get("team"),
        roles=frozenset(data.get("roles") or ()),
        headers=dict(data.get("headers") or {}),
        attributes=_decode(data.get("attributes") or {}),
        started=time.perf_counter(),
        origin=origin,
        priority=priority,
        deadline=deadline,
    )
