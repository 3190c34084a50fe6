"""``read_json_object``'s nesting limit, with its bracket-count shortcut: exact at the boundary,
and brackets inside strings do not make a shallow body too deep."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from starlette.requests import Request

from headway.api.body import read_json_object
from headway.errors import InvalidRequestError
from headway.types import MAX_JSON_DEPTH


def _request(raw: bytes) -> Request:
    scope: dict[str, Any] = {
        "type": "http", "method": "POST", "path": "/v1/chat/completions", "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())],
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": raw, "more_body": False}

    return Request(scope, receive)


def _body(depth: int) -> bytes:
    """A JSON object nesting ``depth`` levels in all (the body itself is level 1)."""
    inner: Any = []
    for _ in range(depth - 2):
        inner = [inner]
    return orjson.dumps({"model": "m", "x": inner})


async def test_the_limit_itself_is_accepted_and_one_more_level_is_refused() -> None:
    assert await read_json_object(_request(_body(MAX_JSON_DEPTH)), 1 << 20)
    with pytest.raises(InvalidRequestError) as caught:
        await read_json_object(_request(_body(MAX_JSON_DEPTH + 1)), 1 << 20)
    assert caught.value.code == "too_deep"


async def test_brackets_inside_strings_do_not_make_a_shallow_body_too_deep() -> None:
    raw = orjson.dumps({"model": "m", "messages": [{"role": "user", "content": "[{" * 500}]})
    assert (await read_json_object(_request(raw), 1 << 20))["messages"][0]["content"] == "[{" * 500
