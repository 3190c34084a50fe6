"""Hostile and malformed request bodies are precise 4xx in the client's API shape, never a 5xx.

One nesting limit (``headway.types.MAX_JSON_DEPTH``) holds at parse, at validation and so at
re-encode for the upstream (orjson stops near 254 levels); values used as keys are type-checked;
empty inputs are refused before any upstream call.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headway.errors import InvalidRequestError
from headway.serving.validation import validate_chat_request, validate_embeddings_request
from headway.testing import GatewayThread
from headway.types import MAX_JSON_DEPTH, json_depth_exceeds
from tests.http import Reply, post_json, request

DEEP = "__deep__"


def post_deep(url: str, body: dict[str, Any], levels: int) -> Reply:
    """POST ``body`` with the string DEEP replaced by ``levels`` nested arrays (json.dumps stops near 1000)."""
    deep = "[" * (levels - 1) + "{}" + "]" * (levels - 1)
    raw = json.dumps(body).replace(json.dumps(DEEP), deep).encode()
    return request("POST", url, raw, {"content-type": "application/json"})


def nested(levels: int) -> Any:
    """A JSON value of exactly ``levels`` nested objects/arrays."""
    value: Any = {}
    for index in range(levels - 1):
        value = {"a": value} if index % 2 else [value]
    return value


def chat(**extra: Any) -> dict[str, Any]:
    return {"model": "chat", "messages": [{"role": "user", "content": "hi"}], **extra}


def test_depth_is_measured_exactly() -> None:
    assert not json_depth_exceeds(nested(MAX_JSON_DEPTH))
    assert json_depth_exceeds(nested(MAX_JSON_DEPTH + 1))
    assert not json_depth_exceeds("text")
    assert json_depth_exceeds(nested(5000))  # iterative: no RecursionError on the way


@pytest.mark.parametrize("levels", [MAX_JSON_DEPTH, 100, 254, 255, 600, 1023])
def test_deep_metadata_and_tool_parameters_are_400(gateway: GatewayThread, levels: int) -> None:
    bodies = [
        chat(metadata={"deep": DEEP}),
        chat(tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "x": DEEP}}}]),
    ]
    for body in bodies:
        response = post_deep(f"{gateway.url}/v1/chat/completions", body, levels)
        assert response.status == 400, response.body
        error = response.json()["error"]
        assert error["code"] == "too_deep"
        assert str(MAX_JSON_DEPTH) in error["message"]


def test_nesting_within_the_limit_is_served(gateway: GatewayThread) -> None:
    # The whole body may nest MAX_JSON_DEPTH levels: body (1) > metadata (2) > value.
    url = f"{gateway.url}/v1/chat/completions"
    response = post_deep(url, chat(metadata={"deep": DEEP}), MAX_JSON_DEPTH - 2)
    assert response.status == 200, response.body
    assert post_deep(url, chat(metadata={"deep": DEEP}), MAX_JSON_DEPTH - 1).status == 400


def test_bodies_deeper_than_the_parser_allows_are_400(gateway: GatewayThread) -> None:
    raw = b'{"model": "chat", "x": ' + b"[" * 2000 + b"]" * 2000 + b"}"
    response = request("POST", f"{gateway.url}/v1/chat/completions", raw, {"content-type": "application/json"})
    assert response.status == 400, response.body
    assert response.json()["error"]["code"] == "too_deep"


@pytest.mark.parametrize("role", [{}, [], [1], 1, None, True, "robot"])
def test_a_role_of_the_wrong_type_is_400(gateway: GatewayThread, role: Any) -> None:
    body = {"model": "chat", "messages": [{"role": role, "content": "hi"}]}
    response = post_json(f"{gateway.url}/v1/chat/completions", body)
    assert response.status == 400, response.body
    assert response.json()["error"]["param"] == "messages[0].role"


@pytest.mark.parametrize("value", [[[]], [[1], []], [], "", [""]])
def test_empty_embedding_inputs_are_400(gateway: GatewayThread, value: Any) -> None:
    response = post_json(f"{gateway.url}/v1/embeddings", {"model": "embed", "input": value})
    assert response.status == 400, response.body
    assert response.json()["error"]["param"] == "input"


@pytest.mark.parametrize("dimensions", [0, -1, 10**18])
def test_embedding_dimensions_out_of_range_are_400(gateway: GatewayThread, dimensions: int) -> None:
    body = {"model": "embed", "input": "hi", "dimensions": dimensions}
    response = post_json(f"{gateway.url}/v1/embeddings", body)
    assert response.status == 400, response.body
    assert response.json()["error"]["param"] == "dimensions"


def test_stored_jobs_get_the_same_depth_limit() -> None:
    # Jobs and batch lines are validated by the same function without passing the API's parser.
    with pytest.raises(InvalidRequestError) as caught:
        validate_chat_request(chat(metadata={"deep": nested(300)}))
    assert caught.value.code == "too_deep"


# --- fuzzing -------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
)
CHAT_KEYS = [
    "model", "messages", "stream", "stream_options", "n", "max_tokens", "max_completion_tokens", "temperature",
    "top_p", "presence_penalty", "frequency_penalty", "stop", "tools", "tool_choice", "response_format",
    "metadata", "user", "seed", "logprobs",
]
MESSAGE_KEYS = ["role", "content", "tool_calls", "tool_call_id", "name", "function_call"]


@st.composite
def chat_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """A valid body with a few fields (top level or in a message) replaced by arbitrary JSON."""
    body = chat()
    message = {"role": "user", "content": "hi"}
    body["messages"] = [message]
    for _ in range(draw(st.integers(1, 3))):
        if draw(st.booleans()):
            body[draw(st.sampled_from(CHAT_KEYS))] = draw(json_values)
        else:
            message[draw(st.sampled_from(MESSAGE_KEYS))] = draw(json_values)
    return body


@given(body=st.dictionaries(st.sampled_from(CHAT_KEYS), json_values, max_size=6) | chat_bodies())
@settings(max_examples=1500, deadline=None, database=None, derandomize=True)
def test_chat_validation_raises_only_request_errors(body: dict[str, Any]) -> None:
    with contextlib.suppress(InvalidRequestError):
        validate_chat_request(body)


@given(value=json_values)
@settings(max_examples=800, deadline=None, database=None, derandomize=True)
def test_embeddings_validation_raises_only_request_errors(value: Any) -> None:
    with contextlib.suppress(InvalidRequestError):
        validate_embeddings_request({"model": "embed", "input": value})


def test_fuzzed_chat_bodies_through_the_gateway_are_never_5xx(gateway: GatewayThread) -> None:
    failures: list[str] = []
    sent = 0
    if True:

        @given(body=chat_bodies())
        @settings(
            max_examples=200, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck)
        )
        def run(body: dict[str, Any]) -> None:
            nonlocal sent
            body["stream"] = body.get("stream") if isinstance(body.get("stream"), bool) else False
            response = post_json(f"{gateway.url}/v1/chat/completions", body)
            sent += 1
            if response.status >= 500:
                failures.append(f"{body!r} -> {response.status}: {response.body[:200]!r}")
            elif response.status >= 400:
                assert set(response.json()["error"]) >= {"message", "type", "param", "code"}

        run()
    assert sent >= 200
    assert failures == []
