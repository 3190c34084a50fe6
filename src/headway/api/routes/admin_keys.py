"""``/admin/keys``: create, list, inspect, rotate and revoke API keys; ``/admin/whoami``.

A key's token appears in exactly one response: the one that created it (create or
rotate). Every change is audited before the response leaves, and revocation drops the
key from this replica's cache at once (other replicas: within ``auth.revocation_poll_s``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from headway.api.body import read_json_object
from headway.api.params import query_int
from headway.api.responses import JSONResponse
from headway.api.route_table import Endpoint
from headway.auth import AUTHENTICATED, AuditEvent, KeyRepository, Principal, key_spec, parse_key_request
from headway.errors import InvalidRequestError, NotFoundError, ServiceUnavailableError
from headway.serving import Runtime

SHOWN_ONCE = "Store this key now: Headway keeps only a hash and cannot show it again."

OPENAPI_TAG = "admin"


def caller(request: Request) -> Principal:
    runtime: Runtime = request.app.state.runtime
    principal = getattr(request.state, "principal", None)
    return principal if isinstance(principal, Principal) else runtime.auth.anonymous


def _keys(runtime: Runtime) -> KeyRepository:
    if runtime.auth.keys is None:
        raise ServiceUnavailableError("API keys need a SQL store; this gateway has none.", code="keys_unavailable")
    return runtime.auth.keys


def _key_id(request: Request) -> str:
    key_id = request.path_params["key_id"]
    if not (1 <= len(key_id) <= 16 and key_id.isalnum()):
        raise NotFoundError(f"No API key {key_id!r}", param="key_id")
    return str(key_id)


async def whoami(request: Request) -> Response:
    principal = caller(request)
    return JSONResponse(
        {
            "principal": principal.name,
            "kind": principal.kind,
            "via": principal.via,
            "team": principal.team,
            "roles": sorted(principal.roles),
            "permissions": sorted(principal.permissions),
            "key_id": principal.key_id,
            "models": principal.models.describe(),
            "collections": principal.collections.describe(),
            "data_class": getattr(request.state, "data_class", None),
            "regions": sorted(r) if (r := getattr(request.state, "region", None)) is not None else None,
        }
    )


async def list_keys(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    include = request.query_params.get("include_inactive", "false").lower()
    if include not in ("true", "false"):
        raise InvalidRequestError("'include_inactive' must be true or false", param="include_inactive")
    records = await asyncio.to_thread(
        _keys(runtime).list_keys,
        principal=request.query_params.get("principal"),
        team=request.query_params.get("team"),
        include_inactive=include == "true",
        limit=query_int(request, "limit", 100, 1, 1000) or 100,
    )
    return JSONResponse({"object": "list", "data": [r.to_public() for r in records]})


async def create_key(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    creator = caller(request)
    raw = await read_json_object(request, 64 * 1024)
    spec = key_spec(runtime.config.auth, parse_key_request(raw), creator)
    record, token = await asyncio.to_thread(_keys(runtime).create, spec, created_by=creator.name)
    await runtime.audit.write(
        AuditEvent("key.create", creator.name, target=f"key:{record.key_id}", request_id=request.state.request_id,
                   detail=_audit_detail(record.to_public()))
    )
    return JSONResponse({**record.to_public(), "key": token, "warning": SHOWN_ONCE}, status_code=201)


async def get_key(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    key_id = _key_id(request)
    record = await asyncio.to_thread(_keys(runtime).get, key_id)
    if record is None:
        raise NotFoundError(f"No API key {key_id!r}", param="key_id")
    return JSONResponse(record.to_public())


async def rotate_key(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    actor = caller(request)
    key_id = _key_id(request)
    grace = 0.0
    if request.headers.get("content-length") not in (None, "0"):
        body = await read_json_object(request, 4096)
        unknown = set(body) - {"grace_s"}
        if unknown:
            raise InvalidRequestError(f"unknown field {sorted(unknown)[0]!r}; only 'grace_s' is accepted", param=sorted(unknown)[0])
        value = body.get("grace_s", 0)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 30 * 86400:
            raise InvalidRequestError("'grace_s' must be a number of seconds between 0 and 2592000", param="grace_s")
        grace = float(value)
    rotated = await asyncio.to_thread(_keys(runtime).rotate, key_id, created_by=actor.name, grace_s=grace)
    if rotated is None:
        raise NotFoundError(f"No API key {key_id!r}", param="key_id")
    old, new, token = rotated
    runtime.auth.authenticator.invalidate_key(key_id)
    await runtime.audit.write(
        AuditEvent("key.rotate", actor.name, target=f"key:{key_id}", request_id=request.state.request_id,
                   detail={"new_key": new.key_id, "old_key_ends": old.revoked_at, "grace_s": grace})
    )
    return JSONResponse({**new.to_public(), "key": token, "replaces": old.to_public(), "warning": SHOWN_ONCE}, status_code=201)


async def revoke_key(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    actor = caller(request)
    key_id = _key_id(request)
    record = await asyncio.to_thread(_keys(runtime).revoke, key_id)
    if record is None:
        raise NotFoundError(f"No API key {key_id!r}", param="key_id")
    runtime.auth.authenticator.invalidate_key(key_id)
    await runtime.audit.write(
        AuditEvent("key.revoke", actor.name, target=f"key:{key_id}", request_id=request.state.request_id,
                   detail={"principal": record.spec.principal, "revoked_at": record.revoked_at})
    )
    return JSONResponse(record.to_public())


def _audit_detail(public: dict[str, Any]) -> dict[str, Any]:
    keep = ("principal", "kind", "team", "roles", "scopes", "models", "collections", "data_class", "regions", "expires_at")
    return {k: public[k] for k in keep if public.get(k) is not None}


_KEY_SCHEMA = {"type": "object", "properties": {"id": {"type": "string"}, "prefix": {"type": "string"}, "status": {"type": "string"}}}
_ERR = {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "required": ["message", "type"]}}}


def _reply(description: str, schema: dict[str, Any], *codes: int, ok: str = "200") -> dict[str, Any]:
    out: dict[str, Any] = {ok: {"description": description, "content": {"application/json": {"schema": schema}}}}
    for code in codes:
        out[str(code)] = {"description": "Error in OpenAI's shape", "content": {"application/json": {"schema": _ERR}}}
    return out


_KEY_ID = {"name": "key_id", "in": "path", "required": True, "schema": {"type": "string"}}

CREATE_KEY_REQUEST = {
    "type": "object",
    "required": ["principal", "roles"],
    "additionalProperties": False,
    "properties": {
        "principal": {"type": "string"},
        "roles": {"type": "array", "items": {"type": "string", "enum": ["admin", "operator", "developer", "reviewer", "app"]}},
        "kind": {"type": "string", "enum": ["user", "service"]},
        "team": {"type": "string"},
        "scopes": {"type": "array", "items": {"type": "string"}},
        "models": {"type": "array", "items": {"type": "string"}},
        "routes": {"type": "array", "items": {"type": "string"}},
        "collections": {"type": "array", "items": {"type": "string"}},
        "data_class": {"type": "string"},
        "regions": {"type": "array", "items": {"type": "string"}},
        "description": {"type": "string"},
        "expires_in_s": {"type": "number"},
        "expires_at": {"type": "number"},
    },
}

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "GET", "/admin/whoami", whoami, AUTHENTICATED,
        {"operationId": "whoami", "tags": [OPENAPI_TAG], "responses": _reply("The calling principal", {"type": "object"}, 401)},
    ),
    Endpoint(
        "GET", "/admin/keys", list_keys, "keys:read",
        {
            "operationId": "listKeys",
            "tags": [OPENAPI_TAG],
            "parameters": [
                {"name": "principal", "in": "query", "schema": {"type": "string"}},
                {"name": "team", "in": "query", "schema": {"type": "string"}},
                {"name": "include_inactive", "in": "query", "schema": {"type": "string", "enum": ["true", "false"]}},
                {"name": "limit", "in": "query", "schema": {"type": "integer"}},
            ],
            "responses": _reply("API keys (never their secrets)", {"type": "object"}, 400, 401, 403),
        },
    ),
    Endpoint(
        "POST", "/admin/keys", create_key, "keys:write",
        {
            "operationId": "createKey",
            "tags": [OPENAPI_TAG],
            "requestBody": {"required": True, "content": {"application/json": {"schema": CREATE_KEY_REQUEST}}},
            "responses": _reply("The new key; `key` is shown only here", _KEY_SCHEMA, 400, 401, 403, 413, 415, ok="201"),
        },
    ),
    Endpoint(
        "GET", "/admin/keys/{key_id}", get_key, "keys:read",
        {"operationId": "getKey", "tags": [OPENAPI_TAG], "parameters": [_KEY_ID], "responses": _reply("One key", _KEY_SCHEMA, 401, 403, 404)},
    ),
    Endpoint(
        "DELETE", "/admin/keys/{key_id}", revoke_key, "keys:write",
        {"operationId": "revokeKey", "tags": [OPENAPI_TAG], "parameters": [_KEY_ID], "responses": _reply("The revoked key", _KEY_SCHEMA, 401, 403, 404)},
    ),
    Endpoint(
        "POST", "/admin/keys/{key_id}/rotate", rotate_key, "keys:write",
        {
            "operationId": "rotateKey",
            "tags": [OPENAPI_TAG],
            "parameters": [_KEY_ID],
            "requestBody": {
                "required": False,
                "content": {"application/json": {"schema": {"type": "object", "additionalProperties": False, "properties": {"grace_s": {"type": "number"}}}}},
            },
            "responses": _reply("The successor key; `key` is shown only here", _KEY_SCHEMA, 400, 401, 403, 404, 413, 415, ok="201"),
        },
    ),
)
