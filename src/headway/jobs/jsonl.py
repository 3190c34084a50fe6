"""Read a batch input file: one request per line, each judged on its own.

A line that cannot run (not JSON, no ``custom_id``, a repeated ``custom_id``, another
endpoint, no body or model) becomes a failed line with a clear error for the error
file; the rest of the batch runs. Which models exist is not decided here: the caller
checks every line's model and refuses the whole batch up front. Pure.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import orjson

from headway.types import JSON

MAX_CUSTOM_ID = 512


@dataclass(frozen=True, slots=True)
class InputLine:
    line: int  # 1-based, counting every physical line of the file
    custom_id: str | None
    body: JSON | None
    error: JSON | None = None  # {"code", "message", "line"} when the line cannot run

    @property
    def model(self) -> str | None:
        return str(self.body["model"]) if self.body is not None and self.error is None else None


def _lines(content: bytes) -> Iterator[tuple[int, bytes]]:
    for number, raw in enumerate(content.split(b"\n"), start=1):
        stripped = raw.strip()
        if stripped:  # blank lines (a trailing newline, spacing) hold no request
            yield number, stripped


def _failed(number: int, custom_id: str | None, code: str, message: str) -> InputLine:
    return InputLine(number, custom_id, None, {"code": code, "message": f"line {number}: {message}", "line": number})


def _judge(number: int, raw: bytes, endpoint: str, seen: set[str]) -> InputLine:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return _failed(number, None, "invalid_json_line", f"not valid JSON ({exc.msg} at position {exc.pos})")
    if not isinstance(value, dict):
        return _failed(number, None, "invalid_line", f"expected a JSON object, got {type(value).__name__}")
    custom_id = value.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        return _failed(number, None, "missing_custom_id", "custom_id must be a non-empty string")
    if len(custom_id) > MAX_CUSTOM_ID:
        return _failed(number, None, "invalid_custom_id", f"custom_id is longer than {MAX_CUSTOM_ID} characters")
    if custom_id in seen:
        return _failed(number, custom_id, "duplicate_custom_id", f"custom_id {custom_id!r} is used by an earlier line")
    seen.add(custom_id)
    method = value.get("method", "POST")
    if not isinstance(method, str) or method.upper() != "POST":
        return _failed(number, custom_id, "invalid_method", f"method must be POST, got {method!r}")
    url = value.get("url", endpoint)
    if url != endpoint:
        return _failed(number, custom_id, "mismatched_url", f"url {url!r} is not the batch's endpoint {endpoint!r}")
    body = value.get("body")
    if not isinstance(body, dict):
        return _failed(number, custom_id, "invalid_body", "body must be a JSON object (the request to send)")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return _failed(number, custom_id, "missing_model", "body.model must be a non-empty string")
    if body.get("stream"):
        return _failed(number, custom_id, "stream_not_supported", "a batch line cannot stream; drop body.stream")
    return InputLine(number, custom_id, body)


def parse_input(content: bytes, endpoint: str) -> list[InputLine]:
    seen: set[str] = set()
    return [_judge(number, raw, endpoint, seen) for number, raw in _lines(content)]


def first_line_per_model(lines: list[InputLine]) -> dict[str, int]:
    """Each model the runnable lines name, with the first line naming it (for error messages)."""
    first: dict[str, int] = {}
    for line in lines:
        model = line.model
        if model is not None and model not in first:
            first[model] = line.line
    return first
