"""Headway's OpenAPI document: the contract clients and schemathesis test against.

The paths come from the route table (``api/route_table.py``); this module holds the
document's frame and the shared building blocks route modules describe themselves with.
"""

from __future__ import annotations

from typing import Any

from headway.api.route_table import RouteTable

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}


def json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def responses(ok: str, *codes: int) -> dict[str, Any]:
    out: dict[str, Any] = {"200": {"description": ok, "content": {"application/json": {"schema": {"type": "object"}}}}}
    for code in codes:
        out[str(code)] = {"description": "Error in OpenAI's shape", "content": {"application/json": {"schema": ERROR_SCHEMA}}}
    return out


def loose_responses(ok: str, *codes: int) -> dict[str, Any]:
    """Like ``responses``, with errors described only as an object holding ``error``."""
    error = {
        "description": "Error in OpenAI's shape",
        "content": {"application/json": {"schema": {"type": "object", "required": ["error"]}}},
    }
    return {
        "200": {"description": ok, "content": {"application/json": {"schema": {"type": "object"}}}},
        **{str(c): error for c in codes},
    }


_SECURITY_SCHEMES = {
    "bearer": {"type": "http", "scheme": "bearer", "description": "A Headway API key (hw_live_…) or an OIDC JWT."},
    "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key", "description": "A Headway API key."},
}


def build_openapi(table: RouteTable, *, title: str = "Headway", version: str = "0.1.0") -> dict[str, Any]:
    """The document for ``table``: every operation not public names the credential schemes."""
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": table.openapi_paths(),
        "components": {"securitySchemes": dict(_SECURITY_SCHEMES)},
    }
