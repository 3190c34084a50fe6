"""The pure halves of native Responses: the chat request back as a Responses request, the
provider's Response and stream events as chat, and when serving may hand the native one on."""

from __future__ import annotations

from typing import Any

import pytest

from headway.dialects import adopt_native, native_answer
from headway.errors import UpstreamError
from headway.providers import NATIVE_ANSWER, NATIVE_EVENT, NATIVE_REQUEST
from headway.providers._responses_wire import NativeStream, chat_completion, native_request

CHAT: dict[str, Any] = {
    "model": "route-name",
    "messages": [
        {"role": "system", "content": "Be brief"},
        {"role": "user", "content": [{"type": "text", "text": "Look"}, {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "low"}}]},
        {"role": "assistant", "content": "Calling", "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "42"},
    ],
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}, "description": None}}],
    "tool_choice": {"type": "function", "function": {"name": "f"}},
    "response_format": {"type": "json_schema", "json_schema": {"name": "out", "schema": {"type": "object"}, "strict": True}},
    "max_tokens": 50,
    "reasoning_effort": "low",
    "temperature": 0.2,
    "stream_options": {"include_usage": True},
    NATIVE_REQUEST: {"include": ["reasoning.encrypted_content"], "reasoning": {"effort": "high", "summary": "auto"}},
}


def test_the_chat_request_becomes_a_responses_request() -> None:
    request = native_request(CHAT, "gpt-5", stream=True)
    assert request["model"] == "gpt-5" and request["store"] is False and request["stream"] is True
    assert [item["type"] for item in request["input"]] == ["message", "message", "message", "function_call", "function_call_output"]
    assert request["input"][1]["content"] == [
        {"type": "input_text", "text": "Look"},
        {"type": "input_image", "image_url": "https://x/y.png", "detail": "low"},
    ]
    assert request["input"][3] == {"type": "function_call", "call_id": "call_1", "name": "f", "arguments": "{}"}
    assert request["input"][4] == {"type": "function_call_output", "call_id": "call_1", "output": "42"}
    assert request["tools"] == [{"type": "function", "name": "f", "parameters": {"type": "object"}}]
    assert request["tool_choice"] == {"type": "function", "name": "f"}
    assert request["text"] == {"format": {"type": "json_schema", "name": "out", "schema": {"type": "object"}, "strict": True}}
    assert request["max_output_tokens"] == 50 and request["temperature"] == 0.2
    # The client's own reasoning object and include win over what chat could carry.
    assert request["reasoning"] == {"effort": "high", "summary": "auto"} and request["include"] == ["reasoning.encrypted_content"]
    assert NATIVE_REQUEST not in request and "stream_options" not in request and "messages" not in request


RESPONSE: dict[str, Any] = {
    "id": "resp_upstream",
    "object": "response",
    "created_at": 1,
    "status": "completed",
    "model": "gpt-5",
    "output": [
        {"id": "rs_1", "type": "reasoning", "summary": [], "encrypted_content": "secret"},
        {"id": "msg_1", "type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hello", "annotations": []}]},
    ],
    "usage": {"input_tokens": 10, "output_tokens": 7, "input_tokens_details": {"cached_tokens": 4}, "output_tokens_details": {"reasoning_tokens": 5}},
}


def test_a_native_response_reads_as_a_chat_completion_with_its_usage() -> None:
    body, usage = chat_completion(RESPONSE)
    assert body["choices"][0]["message"]["content"] == "Hello" and body["choices"][0]["finish_reason"] == "stop"
    assert body[NATIVE_ANSWER] is RESPONSE
    assert (usage.input_tokens, usage.output_tokens, usage.cache_read_tokens, usage.reasoning_tokens) == (10, 7, 4, 5)
    assert body["usage"]["prompt_tokens"] == 10 and body["usage"]["completion_tokens_details"]["reasoning_tokens"] == 5


def test_function_calls_incomplete_and_failed_responses() -> None:
    call = {"id": "fc_1", "type": "function_call", "call_id": "call_9", "name": "f", "arguments": '{"a": 1}'}
    body, _ = chat_completion({**RESPONSE, "output": [call]})
    assert body["choices"][0]["finish_reason"] == "tool_calls" and body["choices"][0]["message"]["content"] is None
    assert body["choices"][0]["message"]["tool_calls"][0]["function"] == {"name": "f", "arguments": '{"a": 1}'}
    cut, _ = chat_completion({**RESPONSE, "status": "incomplete", "incomplete_details": {"reason": "max_output_tokens"}})
    assert cut["choices"][0]["finish_reason"] == "length"
    with pytest.raises(UpstreamError) as failed:
        chat_completion({**RESPONSE, "status": "failed", "error": {"code": "server_error", "message": "boom"}})
    assert failed.value.kind == "server_error"


def test_stream_events_become_chat_chunks_each_carrying_its_event() -> None:
    stream = NativeStream("gpt-5")
    created = {"type": "response.created", "response": {**RESPONSE, "status": "in_progress", "output": []}}
    chunks, usage = stream.feed(created)
    assert chunks == [{"object": "chat.completion.chunk", "model": "gpt-5", "choices": [{"index": 0, "delta": {}, "finish_reason": None}], NATIVE_EVENT: created}]
    assert usage is None
    added = {"type": "response.output_item.added", "output_index": 1, "item": {"type": "function_call", "call_id": "c", "name": "f"}}
    assert stream.feed(added)[0][0]["choices"][0]["delta"]["tool_calls"][0] == {"index": 0, "id": "c", "type": "function", "function": {"name": "f", "arguments": ""}}
    arguments = stream.feed({"type": "response.function_call_arguments.delta", "output_index": 1, "delta": "{}"})[0][0]
    assert arguments["choices"][0]["delta"]["tool_calls"] == [{"index": 0, "function": {"arguments": "{}"}}]
    text = stream.feed({"type": "response.output_text.delta", "delta": "Hi"})[0][0]
    assert text["choices"][0]["delta"] == {"content": "Hi"}
    done_chunks, done_usage = stream.feed({"type": "response.completed", "response": RESPONSE})
    assert stream.done and done_usage is not None and done_usage.output_tokens == 7
    assert done_chunks[0]["choices"][0]["finish_reason"] == "tool_calls"
    assert done_chunks[-1]["choices"] == [] and done_chunks[-1]["usage"]["prompt_tokens"] == 10 and NATIVE_EVENT in done_chunks[-1]


@pytest.mark.parametrize(
    ("event", "kind"),
    [
        ({"type": "error", "code": "rate_limit_exceeded", "message": "slow down"}, "rate_limit"),
        ({"type": "response.failed", "response": {"error": {"code": "server_error", "message": "boom"}}}, "server_error"),
    ],
)
def test_an_error_event_raises_with_a_kind(event: dict[str, Any], kind: str) -> None:
    with pytest.raises(UpstreamError) as failed:
        NativeStream("gpt-5").feed(event)
    assert failed.value.kind == kind


def test_the_native_answer_is_handed_on_only_while_the_stages_left_it_unchanged() -> None:
    body, _ = chat_completion(RESPONSE)
    assert native_answer(body) is RESPONSE
    edited = {**body, "choices": [{"index": 0, "message": {"role": "assistant", "content": "Edited by a reviewer"}, "finish_reason": "stop"}]}
    assert native_answer(edited) is None
    assert native_answer({"choices": [{"message": {"content": "Hello"}}]}) is None  # a translated deployment answered


def test_adopting_keeps_the_providers_output_and_headways_identity() -> None:
    request = {"model": "route", "input": "x", "instructions": "Be brief", "previous_response_id": "resp_prev", "metadata": {"k": "v"}}
    adopted = adopt_native(RESPONSE, request, "resp_headway", 99)
    assert adopted["id"] == "resp_headway" and adopted["created_at"] == 99 and adopted["previous_response_id"] == "resp_prev"
    assert adopted["instructions"] == "Be brief" and adopted["metadata"] == {"k": "v"} and adopted["store"] is True
    assert adopted["output"] == RESPONSE["output"] and adopted["usage"] == RESPONSE["usage"] and adopted["model"] == "gpt-5"
