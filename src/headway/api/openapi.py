"""Headway's OpenAPI document: the contract clients and schemathesis test against."""

from __future__ import annotations

from typing import Any

from headway.api.middleware.auth import with_security
from headway.api.routes import admin_audit, admin_keys, admin_records
from headway.api.routes import batches as batch_routes
from headway.api.routes import feedback as feedback_routes
from headway.api.routes import files as file_routes
from headway.api.routes import gate as gate_routes
from headway.api.routes import jobs as job_routes
from headway.api.routes import metrics as metrics_routes
from headway.api.routes import retrieval as data_plane
from headway.api.routes import reviews as review_routes

_ERROR = {
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

_MESSAGE = {
    "type": "object",
    "required": ["role"],
    "properties": {
        "role": {"type": "string", "enum": ["system", "developer", "user", "assistant", "tool"]},
        "content": {
            "anyOf": [
                {"type": "string"},
                {"type": "null"},
                {"type": "array", "items": {"type": "object", "properties": {"type": {"type": "string"}, "text": {"type": "string"}}}},
            ]
        },
        "name": {"type": "string"},
        "tool_call_id": {"type": "string"},
        "tool_calls": {"type": "array", "items": {"type": "object"}},
    },
}

CHAT_REQUEST = {
    "type": "object",
    "required": ["model", "messages"],
    "properties": {
        "model": {"type": "string"},
        "messages": {"type": "array", "items": _MESSAGE},
        "stream": {"type": "boolean"},
        "stream_options": {"type": "object", "properties": {"include_usage": {"type": "boolean"}}},
        "n": {"type": "integer"},
        "max_tokens": {"type": "integer"},
        "max_completion_tokens": {"type": "integer"},
        "temperature": {"type": "number"},
        "top_p": {"type": "number"},
        "stop": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "tools": {"type": "array", "items": {"type": "object"}},
        "tool_choice": {"anyOf": [{"type": "string"}, {"type": "object"}]},
        "response_format": {"type": "object"},
        "metadata": {"type": "object"},
        "retrieval": data_plane.CHAT_RETRIEVAL_SCHEMA,
        "user": {"type": "string"},
    },
}

EMBEDDINGS_REQUEST = {
    "type": "object",
    "required": ["model", "input"],
    "properties": {
        "model": {"type": "string"},
        "input": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "encoding_format": {"type": "string", "enum": ["float", "base64"]},
        "dimensions": {"type": "integer"},
        "user": {"type": "string"},
    },
}


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _responses(ok: str, *codes: int) -> dict[str, Any]:
    out: dict[str, Any] = {"200": {"description": ok, "content": {"application/json": {"schema": {"type": "object"}}}}}
    for code in codes:
        out[str(code)] = {"description": "Error in OpenAI's shape", "content": {"application/json": {"schema": _ERROR}}}
    return out


def build_openapi(*, title: str = "Headway", version: str = "0.1.0") -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/v1/chat/completions": {
            "post": {
                "operationId": "createChatCompletion",
                "requestBody": _json_body(CHAT_REQUEST),
                "responses": _responses("A chat completion (or an SSE stream when stream is true)", 400, 401, 403, 404, 413, 415, 429, 502, 503, 504),
            }
        },
        "/v1/embeddings": {
            "post": {
                "operationId": "createEmbedding",
                "requestBody": _json_body(EMBEDDINGS_REQUEST),
                "responses": _responses("Embeddings", 400, 401, 403, 404, 413, 415, 429, 502, 503, 504),
            }
        },
        "/v1/models": {"get": {"operationId": "listModels", "responses": _responses("Models", 401)}},
        "/v1/models/{model}": {
            "get": {
                "operationId": "retrieveModel",
                "parameters": [{"name": "model", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": _responses("A model", 401, 404),
            }
        },
        "/healthz": {"get": {"operationId": "healthz", "responses": _responses("Alive")}},
        "/readyz": {"get": {"operationId": "readyz", "responses": {**_responses("Ready"), "503": {"description": "Not ready"}}}},
        "/admin/requests": {
            "get": {
                "operationId": "listRequests",
                "parameters": [
                    {"name": "limit", "in": "query", "schema": {"type": "integer"}},
                    {"name": "model", "in": "query", "schema": {"type": "string"}},
                    {"name": "caller", "in": "query", "schema": {"type": "string"}},
                    {"name": "team", "in": "query", "schema": {"type": "string"}},
                    {"name": "status", "in": "query", "schema": {"type": "string"}},
                ],
                "responses": _responses("Request records", 400, 401, 403),
            }
        },
        "/admin/requests/{request_id}": {
            "get": {
                "operationId": "getRequest",
                "parameters": [{"name": "request_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": _responses("One request record", 401, 403, 404),
            }
        },
        **data_plane.OPENAPI_PATHS,
        "/admin/deployments": {
            "get": {
                "operationId": "listDeployments",
                "parameters": [{"name": "model", "in": "query", "schema": {"type": "string"}}],
                "responses": _responses("Per model, per deployment: breaker state, failure ratio, load, latency", 401, 403, 404),
            }
        },
    }
    paths.update(metrics_routes.OPENAPI_PATHS)
    paths.update(feedback_routes.OPENAPI_PATHS)
    for jobs_paths in (job_routes.OPENAPI_PATHS, file_routes.OPENAPI_PATHS, batch_routes.OPENAPI_PATHS):
        paths.update(jobs_paths)
    paths.update(review_routes.OPENAPI_PATHS)
    paths.update(gate_routes.OPENAPI_PATHS)
    for admin in (admin_keys.OPENAPI_PATHS, admin_audit.OPENAPI_PATHS, admin_records.OPENAPI_PATHS):
        paths.update(admin)
    return with_security({"openapi": "3.1.0", "info": {"title": title, "version": version}, "paths": paths})
