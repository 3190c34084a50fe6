"""Read and decode a JSON request body with precise errors for every way it can be wrong."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request

from headway.errors import InvalidRequestError, PayloadTooLargeError, UnsupportedMediaTypeError
from headway.types import MAX_JSON_DEPTH, json_depth_exceeds


def _check_content_type(request: Request) -> None:
    content_type = request.headers.get("content-type")
    # A missing content type is tolerated (many hand-written clients omit it); a wrong one is not.
    if content_type is None:
        return
    media = content_type.split(";", 1)[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise UnsupportedMediaTypeError(
            f"Content-Type must be application/json, got {media or 'an empty value'!r}", param="content-type"
        )


async def read_body(request: Request, max_bytes: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            declared_size = int(declared)
        except ValueError:
            raise InvalidRequestError("Content-Length is not a number", param="content-length") from None
        if declared_size > max_bytes:
            raise PayloadTooLargeError(f"request body of {declared_size} bytes exceeds the limit of {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_bytes:
                raise PayloadTooLargeError(f"request body exceeds the limit of {max_bytes} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        raise InvalidRequestError("client disconnected while sending the body") from None
    return b"".join(chunks)


def _too_deep() -> InvalidRequestError:
    return InvalidRequestError(f"request body nests objects and arrays deeper than {MAX_JSON_DEPTH} levels", code="too_deep")


async def read_json_object(request: Request, max_bytes: int) -> dict[str, Any]:
    _check_content_type(request)
    raw = await read_body(request, max_bytes)
    if not raw.strip():
        raise InvalidRequestError("request body is empty; expected a JSON object")
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if exc.msg == "depth limit exceeded":  # orjson's own limit (1024) is beyond ours: the same answer
            raise _too_deep() from None
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as utf:
            raise InvalidRequestError(f"request body is not valid UTF-8 (byte {utf.start})", code="invalid_encoding") from None
        raise InvalidRequestError(f"request body is not valid JSON: {exc.msg} at position {exc.pos}", code="invalid_json") from None
    if not isinstance(value, dict):
        raise InvalidRequestError(f"request body must be a JSON object, got {type(value).__name__}", code="invalid_json")
    # Nesting can be no deeper than the body has opening brackets (those inside strings only
    # add to the count): a typical body has a few, and the walk over the parsed value is skipped.
    if raw.count(b"{") + raw.count(b"[") > MAX_JSON_DEPTH and json_depth_exceeds(value):
        raise _too_deep()
    return value
