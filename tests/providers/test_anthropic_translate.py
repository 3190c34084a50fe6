"""Pure translation between OpenAI chat completions and the Anthropic Messages API."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headway.errors import UpstreamError
from headway.providers._anthropic_translate import (
    StreamTranslator,
    decode_stream_event,
    error_kind,
    request_to_anthropic,
    response_to_openai,
    usage_to_openai,
)
from headway.types import Usage


def translate(request: dict, *, default_max_tokens: int = 4096) -> dict:
    return request_to_anthropic(request, model="claude-test", default_max_tokens=default_max_tokens)


def user(text: str) -> dict:
    return {"role": "user", "content": text}


def text(value: str) -> dict:
    return {"type": "text", "text": value}


# --- request ---------------------------------------------------------------------------


def test_minimal_request_gets_model_and_default_max_tokens() -> None:
    assert translate({"messages": [user("hi")]}, default_max_tokens=77) == {
        "model": "claude-test",
        "max_tokens": 77,
        "messages": [{"role": "user", "content": [text("hi")]}],
    }


def test_system_and_developer_messages_become_top_level_system_blocks_in_order() -> None:
    out = translate(
        {
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "developer", "content": [text("use metric"), text("cite sources")]},
                user("hi"),
                {"role": "system", "content": "late rule"},
            ]
        }
    )
    assert out["system"] == [text("be brief"), text("use metric"), text("cite sources"), text("late rule")]
    assert out["messages"] == [{"role": "user", "content": [text("hi")]}]


def test_cache_control_on_parts_is_forwarded() -> None:
    marker = {"type": "ephemeral"}
    out = translate(
        {
            "messages": [
                {"role": "system", "content": [{"type": "text", "text": "long", "cache_control": marker}]},
                user("hi"),
            ]
        }
    )
    assert out["system"] == [{"type": "text", "text": "long", "cache_control": marker}]


def test_user_image_parts_become_base64_and_url_image_blocks() -> None:
    out = translate(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        text("what is this?"),
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                        {"type": "image_url", "image_url": {"url": "https://example.test/cat.jpg", "detail": "high"}},
                    ],
                }
            ]
        }
    )
    assert out["messages"][0]["content"] == [
        text("what is this?"),
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "image", "source": {"type": "url", "url": "https://example.test/cat.jpg"}},
    ]


@pytest.mark.parametrize(
    "url", ["data:image/png,not-base64", "ftp://example.test/x.png", "data:image/png;base64,"]
)
def test_unusable_image_urls_are_refused(url: str) -> None:
    message = {"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}
    with pytest.raises(UpstreamError) as caught:
        translate({"messages": [message]})
    assert caught.value.kind == "client_error"
    assert caught.value.status == 400


def test_assistant_tool_calls_become_tool_use_and_tool_messages_one_user_turn() -> None:
    out = translate(
        {
            "messages": [
                user("weather in Oslo and Rome?"),
                {
                    "role": "assistant",
                    "content": "Checking.",
                    "tool_calls": [
                        {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Oslo"}'}},
                        {"id": "call_2", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Rome"}'}},
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "4C"},
                {"role": "tool", "tool_call_id": "call_2", "content": [text("19C")]},
            ]
        }
    )
    assert out["messages"] == [
        {"role": "user", "content": [text("weather in Oslo and Rome?")]},
        {
            "role": "assistant",
            "content": [
                text("Checking."),
                {"type": "tool_use", "id": "call_1", "name": "weather", "input": {"city": "Oslo"}},
                {"type": "tool_use", "id": "call_2", "name": "weather", "input": {"city": "Rome"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "call_1", "content": "4C"},
                {"type": "tool_result", "tool_use_id": "call_2", "content": [text("19C")]},
            ],
        },
    ]


@pytest.mark.parametrize("arguments", ["{not json", "[1, 2]", "", None, '"a string"'])
def test_tool_call_arguments_that_are_not_a_json_object_become_empty_input(arguments: object) -> None:
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": arguments}}
    out = translate({"messages": [user("go"), {"role": "assistant", "content": None, "tool_calls": [call]}]})
    assert out["messages"][1]["content"] == [{"type": "tool_use", "id": "c", "name": "f", "input": {}}]


def test_tool_result_followed_by_user_text_merges_with_results_first() -> None:
    out = translate(
        {
            "messages": [
                user("go"),
                {"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{}"}}]},
                user("also, hurry"),  # out of order on purpose: text before the tool result
                {"role": "tool", "tool_call_id": "c", "content": "done"},
            ]
        }
    )
    assert out["messages"][2] == {
        "role": "user",
        "content": [{"type": "tool_result", "tool_use_id": "c", "content": "done"}, text("also, hurry")],
    }


def test_consecutive_same_role_messages_are_merged_and_empty_ones_dropped() -> None:
    out = translate(
        {
            "messages": [
                user("one"),
                user(""),
                {"role": "user", "content": [text("two")]},
                {"role": "assistant", "content": "a"},
                {"role": "assistant", "content": [{"type": "refusal", "refusal": "no"}]},
                user("three"),
            ]
        }
    )
    assert out["messages"] == [
        {"role": "user", "content": [text("one"), text("two")]},
        {"role": "assistant", "content": [text("a"), text("no")]},
        {"role": "user", "content": [text("three")]},
    ]


def test_final_assistant_prefill_loses_trailing_whitespace() -> None:
    out = translate({"messages": [user("json please"), {"role": "assistant", "content": "{\n  "}]})
    assert out["messages"][-1] == {"role": "assistant", "content": [text("{")]}


def test_tools_and_named_tool_choice_with_parallel_calls_disabled() -> None:
    out = translate(
        {
            "messages": [user("hi")],
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": "weather",
                        "description": "Current weather",
                        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                        "strict": True,
                    },
                },
                {"type": "function", "function": {"name": "now"}},
            ],
            "tool_choice": {"type": "function", "function": {"name": "weather"}},
            "parallel_tool_calls": False,
        }
    )
    assert out["tools"] == [
        {
            "name": "weather",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
            "description": "Current weather",
        },
        {"name": "now", "input_schema": {"type": "object", "properties": {}}},
    ]
    assert out["tool_choice"] == {"type": "tool", "name": "weather", "disable_parallel_tool_use": True}


TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}


@pytest.mark.parametrize(
    ("choice", "parallel", "expected"),
    [
        ("auto", None, {"type": "auto"}),
        ("required", None, {"type": "any"}),
        ("none", None, {"type": "none"}),
        ("none", False, {"type": "none"}),
        ("required", False, {"type": "any", "disable_parallel_tool_use": True}),
        (None, False, {"type": "auto", "disable_parallel_tool_use": True}),
    ],
)
def test_tool_choice_mapping(choice: object, parallel: object, expected: dict) -> None:
    request: dict = {"messages": [user("hi")], "tools": [TOOL]}
    if choice is not None:
        request["tool_choice"] = choice
    if parallel is not None:
        request["parallel_tool_calls"] = parallel
    assert translate(request)["tool_choice"] == expected


def test_no_tool_choice_without_tools_or_when_unset() -> None:
    assert "tool_choice" not in translate({"messages": [user("hi")], "tool_choice": "required"})
    assert "tool_choice" not in translate({"messages": [user("hi")], "tools": [TOOL]})


def test_sampling_fields_stop_and_user() -> None:
    out = translate(
        {
            "messages": [user("hi")],
            "max_tokens": 50,
            "temperature": 0.3,
            "top_p": 0.9,
            "stop": "END",
            "user": "u-42",
        }
    )
    assert out["max_tokens"] == 50
    assert out["temperature"] == 0.3
    assert out["top_p"] == 0.9
    assert out["stop_sequences"] == ["END"]
    assert out["metadata"] == {"user_id": "u-42"}
    assert translate({"messages": [user("hi")], "stop": ["a", "b"]})["stop_sequences"] == ["a", "b"]


def test_max_completion_tokens_wins_and_temperature_is_clamped_to_anthropic_range() -> None:
    out = translate({"messages": [user("hi")], "max_tokens": 10, "max_completion_tokens": 20, "temperature": 1.7})
    assert out["max_tokens"] == 20
    assert out["temperature"] == 1.0


def test_openai_only_fields_are_dropped() -> None:
    out = translate(
        {
            "model": "gpt-4o",
            "messages": [user("hi")],
            "seed": 1,
            "logprobs": True,
            "top_logprobs": 2,
            "frequency_penalty": 0.5,
            "presence_penalty": 0.5,
            "logit_bias": {"1": 2},
            "metadata": {"k": "v"},
            "store": True,
            "service_tier": "auto",
            "reasoning_effort": "low",
            "stream_options": {"include_usage": True},
            "n": 1,
        }
    )
    assert set(out) == {"model", "max_tokens", "messages"}
    assert out["model"] == "claude-test"


def test_response_format_becomes_a_system_instruction() -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
    out = translate(
        {
            "messages": [{"role": "system", "content": "be brief"}, user("hi")],
            "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": schema}},
        }
    )
    assert out["system"][0] == text("be brief")
    instruction = out["system"][1]["text"]
    assert "JSON" in instruction
    assert orjson.dumps(schema).decode() in instruction
    plain = translate({"messages": [user("hi")], "response_format": {"type": "json_object"}})
    assert "JSON object" in plain["system"][0]["text"]
    assert "system" not in translate({"messages": [user("hi")], "response_format": {"type": "text"}})


@pytest.mark.parametrize(
    "request_",
    [
        {"messages": []},
        {"messages": [user("hi")], "n": 2},
        {"messages": [{"role": "function", "name": "f", "content": "x"}]},
        {"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]},
        {"messages": [user("hi")], "tools": [{"type": "custom", "custom": {"name": "x"}}]},
        {"messages": [{"role": "tool", "content": "no id"}]},
        {"messages": [user("hi")], "max_tokens": 0},
    ],
)
def test_requests_that_cannot_be_translated_faithfully_are_refused(request_: dict) -> None:
    with pytest.raises(UpstreamError) as caught:
        translate(request_)
    assert caught.value.kind == "client_error"


def test_input_request_is_not_mutated() -> None:
    request = {
        "messages": [user("a"), user("b"), {"role": "assistant", "content": "x  "}],
        "tools": [TOOL],
    }
    snapshot = orjson.dumps(request)
    translate(request)
    assert orjson.dumps(request) == snapshot


# --- response --------------------------------------------------------------------------

ANTHROPIC_TOOL_MESSAGE = {
    "id": "msg_01",
    "type": "message",
    "role": "assistant",
    "model": "claude-test-20250101",
    "content": [
        {"type": "thinking", "thinking": "hmm", "signature": "sig"},
        {"type": "text", "text": "Let me "},
        {"type": "text", "text": "check."},
        {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Oslo", "days": 2}},
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 10,
        "cache_creation_input_tokens": 5,
        "cache_read_input_tokens": 100,
        "output_tokens": 7,
    },
}


def test_response_with_text_and_tool_use() -> None:
    assert response_to_openai(ANTHROPIC_TOOL_MESSAGE, created=1700000000) == {
        "id": "msg_01",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "claude-test-20250101",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": "Let me check.",
                    "tool_calls": [
                        {
                            "id": "toolu_1",
                            "type": "function",
                            "function": {"name": "weather", "arguments": '{"city":"Oslo","days":2}'},
                        }
                    ],
                },
                "finish_reason": "tool_calls",
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": 115,
            "completion_tokens": 7,
            "total_tokens": 122,
            "prompt_tokens_details": {"cached_tokens": 100},
        },
    }


def test_tool_use_input_that_is_not_an_object_reaches_the_caller_as_raw_arguments() -> None:
    block = {"type": "tool_use", "id": "toolu_x", "name": "f", "input": '{"city": "Os'}
    body = {**ANTHROPIC_TOOL_MESSAGE, "content": [block]}
    call = response_to_openai(body, created=0)["choices"][0]["message"]["tool_calls"][0]
    assert call["function"]["arguments"] == '{"city": "Os'


def test_response_without_text_has_null_content_and_no_tool_calls_key() -> None:
    body = {**ANTHROPIC_TOOL_MESSAGE, "content": [], "stop_reason": "max_tokens"}
    choice = response_to_openai(body, created=0)["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": None}
    assert choice["finish_reason"] == "length"


@pytest.mark.parametrize(
    ("stop_reason", "expected"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        (None, None),
    ],
)
def test_finish_reason_mapping(stop_reason: str | None, expected: str | None) -> None:
    body = {**ANTHROPIC_TOOL_MESSAGE, "stop_reason": stop_reason}
    assert response_to_openai(body, created=0)["choices"][0]["finish_reason"] == expected


def test_usage_feeds_the_shared_usage_type_with_cache_reads() -> None:
    usage = Usage.from_openai(usage_to_openai(ANTHROPIC_TOOL_MESSAGE["usage"]))
    assert (usage.input_tokens, usage.output_tokens, usage.cache_read_tokens) == (115, 7, 100)
    thinking = usage_to_openai({"input_tokens": 1, "output_tokens": 9, "output_tokens_details": {"thinking_tokens": 4}})
    assert Usage.from_openai(thinking).reasoning_tokens == 4


def test_response_without_content_list_is_a_bad_response() -> None:
    with pytest.raises(UpstreamError) as caught:
        response_to_openai({"id": "x", "type": "message"}, created=0)
    assert caught.value.kind == "bad_response"


@pytest.mark.parametrize(
    ("error_type", "kind"),
    [
        ("rate_limit_error", "rate_limit"),
        ("overloaded_error", "server_error"),
        ("api_error", "server_error"),
        ("authentication_error", "auth"),
        ("permission_error", "auth"),
        ("invalid_request_error", None),
    ],
)
def test_error_kind_from_body(error_type: str, kind: str | None) -> None:
    assert error_kind({"type": "error", "error": {"type": error_type, "message": "m"}}) == kind


# --- streaming -------------------------------------------------------------------------


def message_start(**usage: int) -> dict:
    return {
        "type": "message_start",
        "message": {
            "id": "msg_s",
            "type": "message",
            "role": "assistant",
            "model": "claude-test",
            "content": [],
            "stop_reason": None,
            "usage": {"input_tokens": 12, "output_tokens": 1, **usage},
        },
    }


def feed_all(events: list[dict]) -> tuple[StreamTranslator, list[dict]]:
    translator = StreamTranslator(created=5)
    chunks = [chunk for event in events for chunk in translator.feed(event)]
    return translator, chunks


def deltas(chunks: list[dict]) -> list[dict]:
    return [c["choices"][0]["delta"] for c in chunks if c["choices"]]


TEXT_STREAM = [
    message_start(cache_read_input_tokens=3),
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "ping"},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hel"}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "lo"}},
    {"type": "content_block_stop", "index": 0},
    {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": {"output_tokens": 6}},
    {"type": "message_stop"},
]


def test_text_stream_chunks() -> None:
    translator, chunks = feed_all(TEXT_STREAM)
    assert chunks[0] == {
        "id": "msg_s",
        "object": "chat.completion.chunk",
        "created": 5,
        "model": "claude-test",
        "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
    }
    assert deltas(chunks) == [{"role": "assistant", "content": ""}, {"content": "Hel"}, {"content": "lo"}, {}]
    assert chunks[3]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1] == {
        "id": "msg_s",
        "object": "chat.completion.chunk",
        "created": 5,
        "model": "claude-test",
        "choices": [],
        "usage": {
            "prompt_tokens": 15,
            "completion_tokens": 6,
            "total_tokens": 21,
            "prompt_tokens_details": {"cached_tokens": 3},
        },
    }
    assert translator.finished
    assert translator.usage == Usage(input_tokens=15, output_tokens=6, cache_read_tokens=3)


TOOL_STREAM = [
    message_start(),
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Checking."}},
    {"type": "content_block_stop", "index": 0},
    {"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_a", "name": "weather", "input": {}}},
    {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": ""}},
    {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": '{"city": "Os'}},
    {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": 'lo"}'}},
    {"type": "content_block_stop", "index": 1},
    {"type": "content_block_start", "index": 2, "content_block": {"type": "tool_use", "id": "toolu_b", "name": "now", "input": {}}},
    {"type": "content_block_stop", "index": 2},
    {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 30}},
    {"type": "message_stop"},
]


def test_tool_use_stream_chunks_index_tool_blocks_only() -> None:
    _, chunks = feed_all(TOOL_STREAM)
    tool_deltas = [d["tool_calls"][0] for d in deltas(chunks) if "tool_calls" in d]
    assert tool_deltas == [
        {"index": 0, "id": "toolu_a", "type": "function", "function": {"name": "weather", "arguments": ""}},
        {"index": 0, "function": {"arguments": '{"city": "Os'}},
        {"index": 0, "function": {"arguments": 'lo"}'}},
        {"index": 1, "id": "toolu_b", "type": "function", "function": {"name": "now", "arguments": ""}},
        {"index": 1, "function": {"arguments": "{}"}},  # no arguments streamed: "{}" keeps it parseable
    ]
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert finishes[-1] == "tool_calls"


def test_streamed_tool_arguments_reassemble_to_the_non_streaming_input() -> None:
    _, chunks = feed_all(TOOL_STREAM)
    arguments: dict[int, str] = {}
    for delta in deltas(chunks):
        for call in delta.get("tool_calls", []):
            arguments[call["index"]] = arguments.get(call["index"], "") + call["function"]["arguments"]
    assert {i: orjson.loads(a) for i, a in arguments.items()} == {0: {"city": "Oslo"}, 1: {}}


def test_thinking_blocks_and_unknown_events_are_skipped() -> None:
    events = [
        message_start(),
        {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "hmm"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "s"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "future_event_type", "whatever": 1},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "ok"}},
        {"type": "message_stop"},
    ]
    _, chunks = feed_all(events)
    assert deltas(chunks) == [{"role": "assistant", "content": ""}, {"content": "ok"}]


@pytest.mark.parametrize(
    ("error_type", "kind"),
    [("overloaded_error", "server_error"), ("rate_limit_error", "rate_limit"), ("api_error", "server_error")],
)
def test_error_event_raises_classified_upstream_error(error_type: str, kind: str) -> None:
    translator = StreamTranslator(created=0)
    translator.feed(message_start())
    with pytest.raises(UpstreamError) as caught:
        translator.feed({"type": "error", "error": {"type": error_type, "message": "busy"}})
    assert caught.value.kind == kind
    assert caught.value.message == "busy"


@pytest.mark.parametrize(
    "events",
    [
        [{"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "x"}}],
        [{"type": "message_start"}],
        [message_start(), {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "x"}}],
        [message_start(), {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": 3}}],
        [message_start(), {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": "{"}}],
        [message_start(), {"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "name": "f"}}],
    ],
)
def test_malformed_events_are_bad_responses(events: list[dict]) -> None:
    with pytest.raises(UpstreamError) as caught:
        feed_all(events)
    assert caught.value.kind == "bad_response"


@pytest.mark.parametrize("data", [b"{not json", b"[1, 2]"])
def test_decode_stream_event_rejects_non_objects(data: bytes) -> None:
    with pytest.raises(UpstreamError) as caught:
        decode_stream_event("message_start", data)
    assert caught.value.kind == "bad_response"


def test_decode_stream_event_takes_type_from_the_sse_event_name_when_missing() -> None:
    assert decode_stream_event("ping", b"{}") == {"type": "ping"}
    assert decode_stream_event("message", b'{"type": "message_stop"}') == {"type": "message_stop"}


# --- properties: any well-formed OpenAI conversation becomes a valid Anthropic request ---

WORDS = st.text(alphabet="abcxyz.,!?0123", min_size=1, max_size=6)
MAYBE_EMPTY = st.one_of(st.just(""), WORDS)


@st.composite
def conversations(draw: st.DrawFn) -> list[dict]:
    """Realistic OpenAI histories: system notes anywhere, repeated roles, tool rounds."""
    messages: list[dict] = []
    call_ids = iter(f"call_{n}" for n in range(1000))
    for _ in range(draw(st.integers(1, 8))):
        step = draw(st.sampled_from(["system", "user", "user_parts", "assistant", "tools"]))
        if step == "system":
            messages.append({"role": draw(st.sampled_from(["system", "developer"])), "content": draw(WORDS)})
        elif step == "user":
            messages.append({"role": "user", "content": draw(MAYBE_EMPTY)})
        elif step == "user_parts":
            parts = draw(st.lists(st.one_of(WORDS.map(text), st.just(IMAGE)), min_size=1, max_size=3))
            messages.append({"role": "user", "content": parts})
        elif step == "assistant":
            messages.append({"role": "assistant", "content": draw(MAYBE_EMPTY)})
        else:
            calls = [
                {
                    "id": next(call_ids),
                    "type": "function",
                    "function": {"name": draw(WORDS), "arguments": orjson.dumps({"q": draw(WORDS)}).decode()},
                }
                for _ in range(draw(st.integers(1, 3)))
            ]
            messages.append({"role": "assistant", "content": draw(st.one_of(st.none(), WORDS)), "tool_calls": calls})
            if draw(st.booleans()):
                messages.append(user(draw(WORDS)))  # some clients put a user note before the results
            messages.extend({"role": "tool", "tool_call_id": c["id"], "content": draw(WORDS)} for c in calls)
    if not any(m["role"] in ("user", "tool") and m["content"] for m in messages):
        messages.append(user("hi"))
    return messages


IMAGE = {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}}
ALLOWED_BLOCKS = {"user": {"text", "image", "tool_result"}, "assistant": {"text", "tool_use"}}


@settings(max_examples=300, deadline=None)
@given(conversations())
def test_translated_conversations_satisfy_anthropic_rules(messages: list[dict]) -> None:
    out = translate({"messages": messages})
    turns = out["messages"]
    assert [t["role"] for t in turns] == [("user", "assistant")[i % 2] for i in range(len(turns))] or (
        turns[0]["role"] == "assistant"
        and [t["role"] for t in turns] == [("assistant", "user")[i % 2] for i in range(len(turns))]
    )
    for number, turn in enumerate(turns):
        kinds = [block["type"] for block in turn["content"]]
        assert kinds, "Anthropic rejects empty turns"
        assert set(kinds) <= ALLOWED_BLOCKS[turn["role"]]
        assert all(block["text"] for block in turn["content"] if block["type"] == "text")
        if turn["role"] == "user":
            results = kinds.count("tool_result")
            assert kinds[:results] == ["tool_result"] * results, "tool results must open the user turn"
        uses = [b["id"] for b in turn["content"] if b["type"] == "tool_use"]
        if uses:
            answered = [b["tool_use_id"] for b in turns[number + 1]["content"] if b["type"] == "tool_result"]
            assert answered == uses, "each tool_use is answered in the very next user turn"

    def texts(role_filter: set[str]) -> list[str]:
        found: list[str] = []
        for m in messages:
            if m["role"] in role_filter:
                parts = m["content"] if isinstance(m["content"], list) else [text(m["content"] or "")]
                found.extend(p["text"] for p in parts if p.get("type") == "text" and p["text"])
        return found

    assert [b["text"] for b in out.get("system", [])] == texts({"system", "developer"})
    conversation_texts = [b["text"] for t in turns for b in t["content"] if b["type"] == "text"]
    assert conversation_texts == texts({"user", "assistant"})
    tool_inputs = [b["input"] for t in turns for b in t["content"] if b["type"] == "tool_use"]
    expected_inputs = [
        orjson.loads(c["function"]["arguments"]) for m in messages for c in m.get("tool_calls", [])
    ]
    assert tool_inputs == expected_inputs


@st.composite
def anthropic_messages(draw: st.DrawFn) -> dict:
    content: list[dict] = []
    for n in range(draw(st.integers(0, 4))):
        if draw(st.booleans()):
            content.append({"type": "text", "text": draw(WORDS)})
        else:
            tool_input = draw(st.dictionaries(WORDS, st.one_of(WORDS, st.integers(-(2**63), 2**63 - 1)), max_size=3))
            content.append({"type": "tool_use", "id": f"toolu_{n}", "name": draw(WORDS), "input": tool_input})
    return {
        "id": "msg_p",
        "type": "message",
        "role": "assistant",
        "model": "claude-test",
        "content": content,
        "stop_reason": draw(st.sampled_from(["end_turn", "max_tokens", "tool_use", "stop_sequence"])),
        "usage": {"input_tokens": draw(st.integers(0, 99)), "output_tokens": draw(st.integers(0, 99))},
    }


def as_stream(message: dict, cuts: st.DataObject) -> list[dict[str, Any]]:
    """The events Anthropic would send for ``message``, with text and JSON split at random points."""
    events: list[dict[str, Any]] = [{"type": "message_start", "message": {**message, "content": [], "stop_reason": None}}]
    for index, block in enumerate(message["content"]):
        if block["type"] == "text":
            events.append({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}})
            whole, kind, field = block["text"], "text_delta", "text"
        else:
            start = {**block, "input": {}}
            events.append({"type": "content_block_start", "index": index, "content_block": start})
            whole, kind, field = orjson.dumps(block["input"]).decode(), "input_json_delta", "partial_json"
        if whole == "{}":
            events.append({"type": "content_block_stop", "index": index})
            continue  # a tool without arguments may stream no argument deltas at all
        points = sorted(cuts.draw(st.lists(st.integers(0, len(whole)), max_size=3)))
        for a, b in zip([0, *points], [*points, len(whole)], strict=True):
            events.append({"type": "content_block_delta", "index": index, "delta": {"type": kind, field: whole[a:b]}})
        events.append({"type": "content_block_stop", "index": index})
    usage = {"output_tokens": message["usage"]["output_tokens"]}
    events.append({"type": "message_delta", "delta": {"stop_reason": message["stop_reason"]}, "usage": usage})
    events.append({"type": "message_stop"})
    return events


@settings(max_examples=200, deadline=None)
@given(anthropic_messages(), st.data())
def test_streaming_reassembles_to_the_non_streaming_translation(message: dict, cuts: st.DataObject) -> None:
    translator, chunks = feed_all(as_stream(message, cuts))
    expected = response_to_openai(message, created=5)
    content = "".join(d.get("content") or "" for d in deltas(chunks))
    calls: dict[int, dict] = {}
    for delta in deltas(chunks):
        for call in delta.get("tool_calls", []):
            entry = calls.setdefault(call["index"], {"id": call.get("id"), "name": None, "arguments": ""})
            entry["name"] = call["function"].get("name") or entry["name"]
            entry["arguments"] += call["function"]["arguments"]
    message_out = expected["choices"][0]["message"]
    assert content == (message_out["content"] or "")
    assert [
        (c["id"], c["name"], orjson.loads(c["arguments"])) for _, c in sorted(calls.items())
    ] == [
        (c["id"], c["function"]["name"], orjson.loads(c["function"]["arguments"]))
        for c in message_out.get("tool_calls", [])
    ]
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert finishes == [expected["choices"][0]["finish_reason"]]
    assert chunks[-1]["usage"] == expected["usage"]
    assert translator.usage == Usage.from_openai(expected["usage"])
