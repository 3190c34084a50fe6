"""OpenAI's images, audio, moderations and rerank endpoints, passed through to OpenAI-type providers."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response

from headway.api.body import read_body
from headway.api.context import call_context
from headway.api.openapi import responses
from headway.api.route_table import Endpoint
from headway.errors import InvalidRequestError, NotFoundError, UnsupportedMediaTypeError
from headway.jobs import parse_form
from headway.serving import PASSTHROUGH_PATHS, Forward, Runtime, serve_passthrough


async def passthrough(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    path = request.url.path.removeprefix("/v1/")
    if path not in PASSTHROUGH_PATHS:
        raise NotFoundError(f"Unknown path POST {request.url.path}", code="unknown_url")
    content_type = request.headers.get("content-type", "application/json")
    body = await read_body(request, runtime.config.server.max_body_bytes)
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/json":
        try:
            fields = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise InvalidRequestError(f"request body is not valid JSON: {exc.msg}", code="invalid_json") from None
        if not isinstance(fields, dict):
            raise InvalidRequestError("request body must be a JSON object", code="invalid_json")
    elif media == "multipart/form-data":
        form = parse_form(body, content_type)  # the body goes on as it came; the text fields name the model
        fields = {name: part.content.decode("utf-8", "replace") for name, part in form.items() if part.filename is None}
    else:
        raise UnsupportedMediaTypeError(f"Content-Type must be application/json or multipart/form-data, got {media!r}", param="content-type")
    model = fields.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequestError("'model' is required", param="model", code="missing_required_parameter")
    reply = await serve_passthrough(runtime, runtime.config.providers, call_context(request), Forward(path, body, content_type, model, fields))
    return Response(reply.body, status_code=reply.status, headers=reply.headers, media_type=reply.content_type)


def _operation(operation_id: str, what: str) -> dict[str, object]:
    return {
        "operationId": operation_id,
        "description": f"{what}: passed through unchanged to the model's OpenAI-type deployments; authenticated, limited and recorded.",
        "requestBody": {"content": {"application/json": {"schema": {"type": "object", "required": ["model"]}}, "multipart/form-data": {"schema": {"type": "object"}}}},
        "responses": responses("The provider's answer, as it sent it", 400, 401, 403, 404, 413, 415, 429, 502),
    }


_OPERATION_PARAM = [{"name": "operation", "in": "path", "required": True, "schema": {"type": "string"}}]

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("POST", "/v1/images/{operation}", passthrough, "inference",
             {**_operation("passthroughImages", "Images (generations, edits, variations)"), "parameters": _OPERATION_PARAM}),
    Endpoint("POST", "/v1/audio/{operation}", passthrough, "inference",
             {**_operation("passthroughAudio", "Audio (speech, transcriptions, translations)"), "parameters": _OPERATION_PARAM}),
    Endpoint("POST", "/v1/moderations", passthrough, "inference", _operation("passthroughModerations", "Moderations")),
    Endpoint("POST", "/v1/rerank", passthrough, "inference", _operation("passthroughRerank", "Rerank")),
)
