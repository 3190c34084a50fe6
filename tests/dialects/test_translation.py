"""The pure translators, case by case (the SDK tests cover the happy paths end to end)."""

from __future__ import annotations

import pytest

from headway.dialects import anthropic_messages, completions, responses
from headway.errors import InvalidRequestError


def test_responses_items_become_chat_messages_in_order() -> None:
    body = {
        "model": "m",
        "instructions": "be brief",
        "input": [
            {"role": "developer", "content": "house rules"},
            {"type": "message", "role": "user", "content": [
                {"type": "input_text", "text": "look: "},
                {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "low"},
            ]},
            {"type": "function_call", "call_id": "c1", "name": "a", "arguments": "{}"},
            {"type": "function_call", "call_id": "c2", "name": "b", "arguments": "{\"x\":1}"},
            {"type": "function_call_output", "call_id": "c1", "output": {"ok": True}},
            {"type": "reasoning", "summary": []},
        ],
    }
    history = [{"role": "user", "content": "earlier"}, {"role": "assistant", "content": "answer"}]
    chat = responses.to_chat(body, history).chat
    messages = chat["messages"]
    assert messages[0] == {"role": "system", "content": "be brief"}
    assert messages[1:3] == history
    assert messages[3] == {"role": "system", "content": "house rules"}
    assert messages[4]["content"][1] == {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}}
    assert [call["id"] for call in messages[5]["tool_calls"]] == ["c1", "c2"]  # one assistant turn
    assert messages[6] == {"role": "tool", "tool_call_id": "c1", "content": '{"ok":true}'}
    assert len(messages) == 7  # the reasoning item has nowhere to go in chat


def test_a_tool_output_given_as_parts_is_its_text_and_its_images_follow_the_tool_turn() -> None:
    # LangChain sends a ToolMessage's content blocks, and pydantic-ai a tool's returned files,
    # as ``output`` parts; chat tool messages carry text only.
    image = {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "low"}
    body = {
        "model": "m",
        "input": [
            {"type": "function_call", "call_id": "c1", "name": "a", "arguments": "{}"},
            {"type": "function_call", "call_id": "c2", "name": "b", "arguments": "{}"},
            {"type": "function_call", "call_id": "c3", "name": "c", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": [{"type": "input_text", "text": "21C"}, {"type": "input_text", "text": " sunny"}]},
            {"type": "function_call_output", "call_id": "c2", "output": [{"type": "input_text", "text": "a chart"}, image]},
            {"type": "function_call_output", "call_id": "c3", "output": [image, image]},
            {"role": "user", "content": "and now?"},
        ],
    }
    messages = responses.to_chat(body, []).chat["messages"]
    assert messages[1] == {"role": "tool", "tool_call_id": "c1", "content": "21C sunny"}
    assert messages[2] == {"role": "tool", "tool_call_id": "c2", "content": "a chart"}
    assert messages[3]["role"] == "tool" and messages[3]["content"] and "image" in messages[3]["content"]
    chat_image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}}
    assert messages[4] == {
        "role": "user",
        "content": [
            {"type": "text", "text": "The image returned by tool call c2:"},
            chat_image,
            {"type": "text", "text": "The images returned by tool call c3:"},
            chat_image,
            chat_image,
        ],
    }
    assert messages[5] == {"role": "user", "content": "and now?"}
    # At the end of the input, the images still follow the tool messages.
    body["input"] = body["input"][:-1]  # type: ignore[index]
    assert responses.to_chat(body, []).chat["messages"][-1]["role"] == "user"


@pytest.mark.parametrize(
    ("output", "param"),
    [
        ([{"type": "input_file", "file_id": "file_1"}], "input[0].output[0].type"),
        ([{"type": "input_text", "text": 7}], "input[0].output[0].text"),
    ],
)
def test_tool_output_parts_chat_cannot_carry_are_precise_400s(output: list[dict[str, object]], param: str) -> None:
    body = {"model": "m", "input": [{"type": "function_call_output", "call_id": "c1", "output": output}]}
    with pytest.raises(InvalidRequestError) as caught:
        responses.to_chat(body, [])
    assert caught.value.param == param


def test_an_answer_with_text_and_calls_is_one_assistant_turn() -> None:
    # LangChain sends an AIMessage that said something and called tools as a message item
    # followed by its function_call items; in chat that is one assistant message.
    body = {
        "model": "m",
        "input": [
            {"role": "user", "content": "weather?"},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Checking.", "annotations": []}]},
            {"type": "function_call", "call_id": "c1", "name": "a", "arguments": "{}"},
            {"type": "function_call", "call_id": "c2", "name": "a", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "one"},
            {"type": "function_call_output", "call_id": "c2", "output": "two"},
        ],
    }
    messages = responses.to_chat(body, []).chat["messages"]
    assert [message["role"] for message in messages] == ["user", "assistant", "tool", "tool"]
    assert messages[1]["content"] == "Checking." and [call["id"] for call in messages[1]["tool_calls"]] == ["c1", "c2"]


def test_responses_fields_map_onto_chat() -> None:
    body = {
        "model": "m", "input": "hi", "max_output_tokens": 50, "reasoning": {"effort": "low"}, "stream": True,
        "tool_choice": {"type": "function", "name": "f"},
        "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}, "strict": True}],
        "text": {"format": {"type": "json_schema", "name": "s", "schema": {"type": "object"}, "strict": True}},
    }
    chat = responses.to_chat(body, []).chat
    assert chat["max_tokens"] == 50 and chat["reasoning_effort"] == "low"
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    assert chat["tools"] == [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}, "strict": True}}]
    assert chat["response_format"] == {"type": "json_schema", "json_schema": {"name": "s", "schema": {"type": "object"}, "strict": True}}
    assert chat["stream_options"] == {"include_usage": True}


def test_response_events_for_text_then_a_tool_call_cut_by_length() -> None:
    events = responses.ResponseEvents({"model": "m", "input": "x"}, "resp_1", created_at=1)
    out = list(events.start())
    out += list(events.chunk({"choices": [{"delta": {"content": "Hel"}}]}))
    out += list(events.chunk({"choices": [{"delta": {"content": "lo"}}]}))
    out += list(events.chunk({"choices": [{"delta": {"tool_calls": [{"index": 0, "id": "call_1", "function": {"name": "f", "arguments": "{\"a\""}}]}}]}))
    out += list(events.chunk({"choices": [{"delta": {"tool_calls": [{"index": 0, "function": {"arguments": ":1}"}}]}, "finish_reason": "length"}]}))
    out += list(events.chunk({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}}))
    out += list(events.finish())
    assert [e["sequence_number"] for e in out] == list(range(len(out)))
    final = out[-1]
    assert final["type"] == "response.incomplete" and final["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    output = final["response"]["output"]
    assert output[0]["content"][0]["text"] == "Hello" and output[1]["arguments"] == '{"a":1}' and output[1]["call_id"] == "call_1"
    assert final["response"]["usage"]["total_tokens"] == 7
    added = [e for e in out if e["type"] == "response.output_item.added"]
    assert [e["output_index"] for e in added] == [0, 1]


def test_stop_reasons_are_the_outbound_table_read_backwards() -> None:
    assert anthropic_messages.STOP_REASONS == {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "content_filter": "refusal"}


def test_anthropic_turns_become_chat_messages() -> None:
    body = {
        "model": "m", "max_tokens": 10,
        "system": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
        "tools": [{"name": "f", "input_schema": {"type": "object"}}],
        "messages": [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": [{"type": "thinking", "thinking": "hm", "signature": "s"},
                                              {"type": "text", "text": "calling"},
                                              {"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}}]},
            {"role": "user", "content": [{"type": "text", "text": "and?"},
                                         {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "boom"}], "is_error": True},
                                         {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "AAAA"}}]},
        ],
    }
    chat = anthropic_messages.to_chat(body)
    messages = chat["messages"]
    assert messages[0] == {"role": "system", "content": "one\n\ntwo"}
    assert messages[2] == {"role": "assistant", "content": "calling", "tool_calls": [
        {"id": "t1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}]}
    assert messages[3] == {"role": "tool", "tool_call_id": "t1", "content": "Error: boom"}  # results first
    assert messages[4]["content"][1] == {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,AAAA"}}
    assert chat["tool_choice"] == "required" and chat["parallel_tool_calls"] is False
    assert chat["tools"] == [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "m", "messages": [{"role": "user", "content": "x"}]}, "max_tokens"),
        ({"model": "m", "max_tokens": 1, "messages": []}, "messages"),
        ({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": [{"type": "tool_use", "id": "a", "name": "b"}]}]}, "messages[0].content[0].type"),
        ({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "web_search_20250305", "name": "w"}]}, "tools[0]"),
        ({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "x"}], "surprise": 1}, "surprise"),
    ],
)
def test_anthropic_requests_chat_cannot_carry_are_refused(body: dict[str, object], param: str) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        anthropic_messages.to_chat(body)
    assert refused.value.param == param


def test_message_events_for_text_then_a_tool_call() -> None:
    events = anthropic_messages.MessageEvents(model="m", message_id="msg_1")
    out = list(events.start())
    out += list(events.chunk({"choices": [{"delta": {"content": "hi"}}]}))
    out += list(events.chunk({"choices": [{"delta": {"tool_calls": [{"index": 0, "id": "c", "function": {"name": "f", "arguments": "{}"}}]}, "finish_reason": "tool_calls"}]}))
    out += list(events.chunk({"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 2}}))
    out += list(events.finish())
    assert [e["type"] for e in out] == [
        "message_start", "ping",
        "content_block_start", "content_block_delta", "content_block_stop",
        "content_block_start", "content_block_delta", "content_block_stop",
        "message_delta", "message_stop",
    ]
    assert out[5]["index"] == 1 and out[5]["content_block"]["type"] == "tool_use"
    assert out[8]["delta"]["stop_reason"] == "tool_use" and out[8]["usage"]["output_tokens"] == 2 and out[8]["usage"]["input_tokens"] == 5


def test_an_error_in_anthropic_shape() -> None:
    assert anthropic_messages.error_body(429, "slow down", "req_1") == {
        "type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}, "request_id": "req_1"}
    assert anthropic_messages.error_type(503) == "api_error" and anthropic_messages.error_type(422) == "invalid_request_error"


def test_completion_chunks_echo_the_prompt_once_per_choice() -> None:
    body = {"model": "m", "prompt": ["Say: "], "echo": True}
    echoed: set[int] = set()
    first = completions.to_completion_chunk(body, {"id": "chatcmpl-1", "choices": [{"index": 0, "delta": {"content": "a"}}]}, echoed)
    second = completions.to_completion_chunk(body, {"id": "chatcmpl-1", "choices": [{"index": 0, "delta": {"content": "b"}}]}, echoed)
    assert first is not None and second is not None
    assert first["choices"][0]["text"] == "Say: a" and second["choices"][0]["text"] == "b" and first["id"] == "cmpl-1"
    assert completions.to_completion_chunk(body, {"choices": [{"index": 0, "delta": {"role": "assistant"}}]}, echoed) is None
