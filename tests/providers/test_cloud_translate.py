"""The Bedrock, Gemini and Azure translations against the providers' published wire shapes,
and the simulator's dialects against the same shapes, so the sim cannot drift from them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from headway.errors import UpstreamError
from headway.providers._anthropic_translate import StreamTranslator
from headway.providers._bedrock_translate import (
    ConverseStreamTranslator,
    request_to_converse,
    response_to_openai_from_converse,
)
from headway.providers._eventstream import EventStreamDecoder
from headway.providers._gemini_translate import GeminiStreamTranslator, request_to_gemini, response_to_openai
from headway.providers.bedrock import bedrock_error_from_response
from headway.providers.gemini import gemini_error_from_response
from headway.sim.azure_dialect import AzureDialect
from headway.sim.bedrock_dialect import BedrockDialect
from headway.sim.content import generate
from headway.sim.gemini_dialect import GeminiDialect
from headway.sim.vertex_anthropic_dialect import VertexAnthropicDialect

PUBLISHED: dict[str, Any] = json.loads((Path(__file__).parent / "fixtures" / "published_examples.json").read_text())
TOOL = {"type": "function", "function": {"name": "top_song", "parameters": {"type": "object", "properties": {"sign": {"type": "string"}}}}}


def keys(value: Any) -> set[str]:
    """Every key path in a JSON value (list items share the path of their first element)."""
    found: set[str] = set()

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, child in node.items():
                found.add(f"{path}.{key}")
                walk(child, f"{path}.{key}")
        elif isinstance(node, list) and node:
            walk(node[0], f"{path}[]")

    walk(value, "")
    return found


# --- Bedrock ---------------------------------------------------------------------------


def test_converse_response_becomes_a_chat_completion() -> None:
    body = response_to_openai_from_converse(PUBLISHED["bedrock_converse_response"], model="m", request_id="r1", created=1)
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "Hello! How can I help you today?"}
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["prompt_tokens"] == 12 and body["usage"]["completion_tokens"] == 9


def test_converse_tool_use_response_becomes_tool_calls_with_cached_tokens() -> None:
    body = response_to_openai_from_converse(PUBLISHED["bedrock_converse_response_tool_use"], model="m", request_id="r1", created=1)
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] == "I'll look that up."
    [call] = choice["message"]["tool_calls"]
    assert call["id"] == "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q" and json.loads(call["function"]["arguments"]) == {"sign": "WZPZ"}
    assert body["usage"]["prompt_tokens"] == 475 and body["usage"]["prompt_tokens_details"]["cached_tokens"] == 100


@pytest.mark.parametrize(("reason", "finish"), [("max_tokens", "length"), ("guardrail_intervened", "content_filter"), ("content_filtered", "content_filter"), ("stop_sequence", "stop")])
def test_converse_stop_reasons(reason: str, finish: str) -> None:
    body = response_to_openai_from_converse({**PUBLISHED["bedrock_converse_response"], "stopReason": reason}, model="m", request_id=None, created=1)
    assert body["choices"][0]["finish_reason"] == finish


def test_converse_stream_events_become_chunks_text_then_tool_call() -> None:
    converse = ConverseStreamTranslator(model="m", request_id=None)
    translator = StreamTranslator(created=1)
    chunks = []
    for event_type, payload in PUBLISHED["bedrock_converse_stream_events"]:
        for event in converse.feed(event_type, orjson.dumps(payload)):
            chunks += translator.feed(event)
    assert translator.finished
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "Let me check."
    calls = [d for c in chunks if c["choices"] for d in c["choices"][0]["delta"].get("tool_calls", [])]
    assert calls[0]["id"] == "tooluse_1" and calls[0]["function"]["name"] == "top_song"
    assert json.loads("".join(d["function"]["arguments"] for d in calls)) == {"sign": "WZPZ"}
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]] == ["tool_calls"]
    assert chunks[-1]["usage"]["prompt_tokens"] == 375 and chunks[-1]["usage"]["completion_tokens"] == 56


def test_converse_stream_metadata_before_stop_is_a_bad_response() -> None:
    converse = ConverseStreamTranslator(model="m", request_id=None)
    with pytest.raises(UpstreamError) as caught:
        converse.feed("metadata", b'{"usage": {}}')
    assert caught.value.kind == "bad_response"


def test_published_bedrock_throttling_error_is_a_rate_limit() -> None:
    example = PUBLISHED["bedrock_error_throttling"]
    error = bedrock_error_from_response(example["status"], example["headers"], orjson.dumps(example["body"]))
    assert (error.kind, error.message) == ("rate_limit", "Too many requests, please wait before trying again.")


@pytest.mark.parametrize(
    ("status", "exception", "message", "kind"),
    [
        (400, "ValidationException", "Input is too long for requested model.", "context_window"),
        (400, "ValidationException", "Malformed input request", "client_error"),
        (403, "AccessDeniedException", "no access", "auth"),
        (424, "ModelErrorException", "model failed", "server_error"),
        (408, "ModelTimeoutException", "slow", "timeout"),
        (503, "ServiceUnavailableException", "try later", "server_error"),
    ],
)
def test_bedrock_exception_names_decide_the_kind(status: int, exception: str, message: str, kind: str) -> None:
    error = bedrock_error_from_response(status, {"x-amzn-ErrorType": exception}, orjson.dumps({"message": message}))
    assert error.kind == kind


def test_request_to_converse_covers_system_tools_images_and_results() -> None:
    request = {
        "messages": [
            {"role": "system", "content": "sys"},
            {"role": "user", "content": [{"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]},
            {"role": "assistant", "content": None, "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "top_song", "arguments": '{"sign": "W"}'}}]},
            {"role": "tool", "tool_call_id": "t1", "content": "Song 2"},
        ],
        "tools": [TOOL],
        "tool_choice": {"type": "function", "function": {"name": "top_song"}},
        "top_p": 0.9,
        "seed": 4,
    }
    body = request_to_converse(request)
    assert body["system"] == [{"text": "sys"}]
    assert body["messages"][0]["content"][1] == {"image": {"format": "png", "source": {"bytes": "iVBORw0KGgo="}}}
    assert body["messages"][1]["content"] == [{"toolUse": {"toolUseId": "t1", "name": "top_song", "input": {"sign": "W"}}}]
    assert body["messages"][2]["content"] == [{"toolResult": {"toolUseId": "t1", "content": [{"text": "Song 2"}]}}]
    assert body["toolConfig"]["toolChoice"] == {"tool": {"name": "top_song"}}
    assert body["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"] == {"json": TOOL["function"]["parameters"]}
    assert body["inferenceConfig"] == {"topP": 0.9}  # no maxTokens unless asked; seed has no Converse field


def test_request_to_converse_drops_tools_for_tool_choice_none_without_history() -> None:
    body = request_to_converse({"messages": [{"role": "user", "content": "hi"}], "tools": [TOOL], "tool_choice": "none"})
    assert "toolConfig" not in body


@pytest.mark.parametrize(
    "request_",
    [
        {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]},
        {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/tiff;base64,AAAA"}}]}]},
        {"messages": [{"role": "user", "content": "hi"}], "n": 2},
    ],
)
def test_request_to_converse_refuses_what_it_cannot_carry(request_: dict[str, Any]) -> None:
    with pytest.raises(UpstreamError) as caught:
        request_to_converse(request_)
    assert caught.value.kind == "client_error"


# --- Gemini ----------------------------------------------------------------------------


def test_gemini_response_becomes_a_chat_completion() -> None:
    body = response_to_openai(PUBLISHED["gemini_response"], model="m", created=1)
    assert body["choices"][0]["message"]["content"] == "Once upon a time, a small robot learned to paint."
    assert body["choices"][0]["finish_reason"] == "stop" and body["model"] == "gemini-2.5-flash"
    assert (body["usage"]["prompt_tokens"], body["usage"]["completion_tokens"]) == (8, 12)


def test_gemini_function_call_with_thinking_and_cache_tokens() -> None:
    body = response_to_openai(PUBLISHED["gemini_response_function_call"], model="m", created=1)
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    [call] = choice["message"]["tool_calls"]
    assert call["function"]["name"] == "get_current_weather" and json.loads(call["function"]["arguments"]) == {"location": "Boston, MA"}
    assert call["id"]
    usage = body["usage"]
    assert usage["completion_tokens"] == 50 and usage["completion_tokens_details"]["reasoning_tokens"] == 42
    assert usage["prompt_tokens_details"]["cached_tokens"] == 16


def test_gemini_blocked_prompt_is_a_content_filter_finish() -> None:
    body = response_to_openai(PUBLISHED["gemini_blocked_prompt"], model="m", created=1)
    assert body["choices"][0]["finish_reason"] == "content_filter" and body["choices"][0]["message"]["content"] is None


def test_gemini_stream_events_become_chunks_and_a_usage_chunk() -> None:
    translator = GeminiStreamTranslator(model="m", created=1)
    chunks = []
    for event in PUBLISHED["gemini_stream_events"]:
        chunks += translator.feed(orjson.dumps(event).decode())[0]
    chunks.append(translator.finish())
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]) == "Once upon a time."
    assert translator.finish_reason == "stop"
    assert chunks[-1]["usage"]["completion_tokens"] == 4


@pytest.mark.parametrize(("name", "kind"), [("gemini_error_quota", "rate_limit"), ("gemini_error_bad_key", "auth")])
def test_published_gemini_errors(name: str, kind: str) -> None:
    example = PUBLISHED[name]
    assert gemini_error_from_response(example["status"], {}, orjson.dumps(example["body"])).kind == kind


def test_request_to_gemini_covers_roles_tools_results_and_json() -> None:
    request = {
        "messages": [
            {"role": "developer", "content": "sys"},
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": "checking", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "top_song", "arguments": '{"sign": "W"}'}}]},
            {"role": "tool", "tool_call_id": "c1", "content": '{"song": "2"}'},
            {"role": "tool", "tool_call_id": "c1", "content": "plain text"},
        ],
        "tools": [TOOL],
        "tool_choice": "required",
        "max_completion_tokens": 50,
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
    }
    body = request_to_gemini(request)
    assert body["systemInstruction"] == {"parts": [{"text": "sys"}]}
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert body["contents"][1]["parts"] == [{"text": "checking"}, {"functionCall": {"name": "top_song", "args": {"sign": "W"}}}]
    assert body["contents"][2]["parts"] == [
        {"functionResponse": {"name": "top_song", "response": {"song": "2"}}},
        {"functionResponse": {"name": "top_song", "response": {"content": "plain text"}}},
    ]
    assert body["tools"] == [{"functionDeclarations": [{"name": "top_song", "parametersJsonSchema": TOOL["function"]["parameters"]}]}]
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}
    assert body["generationConfig"] == {"maxOutputTokens": 50, "responseMimeType": "application/json", "responseJsonSchema": {"type": "object"}}


def test_request_to_gemini_needs_the_call_a_tool_result_answers() -> None:
    with pytest.raises(UpstreamError) as caught:
        request_to_gemini({"messages": [{"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": "nope", "content": "r"}]})
    assert caught.value.kind == "client_error"


# --- the simulator speaks the published shapes ------------------------------------------


def sim_answer(dialect: Any, body: dict[str, Any]) -> tuple[Any, Any]:
    prompt = dialect.parse(body)
    return prompt, generate(prompt, seed=1, output_tokens=8, fault=None)


def test_sim_converse_body_has_the_published_shape() -> None:
    dialect = BedrockDialect()
    prompt, completion = sim_answer(dialect, {"model": "m", "messages": [{"role": "user", "content": [{"text": "hi"}]}]})
    ours = orjson.loads(dialect.body(completion, prompt))
    assert keys(PUBLISHED["bedrock_converse_response"]) <= keys(ours)


def test_sim_converse_stream_frames_decode_to_the_published_event_types() -> None:
    dialect = BedrockDialect()
    body = {"model": "m", "stream": True, "messages": [{"role": "user", "content": [{"text": "hi"}]}], "toolConfig": {"tools": [{"toolSpec": {"name": "top_song", "inputSchema": {"json": {"type": "object"}}}}]}}
    prompt, completion = sim_answer(dialect, body)
    messages = EventStreamDecoder().feed(b"".join(frame.data for frame in dialect.frames(completion, prompt, malformed=False)))
    published_types = [event_type for event_type, _ in PUBLISHED["bedrock_converse_stream_events"]]
    ours = [m.header(":event-type") for m in messages]
    assert set(ours) == set(published_types) - {"contentBlockDelta"} | {"contentBlockDelta"}
    assert ours[0] == "messageStart" and ours[-2:] == ["messageStop", "metadata"]
    assert all(m.header(":message-type") == "event" and m.header(":content-type") == "application/json" for m in messages)
    published = dict(PUBLISHED["bedrock_converse_stream_events"][4:5])["contentBlockStart"]
    start = orjson.loads(next(m.payload for m in messages if m.header(":event-type") == "contentBlockStart"))
    assert keys(published) <= keys(start)


def test_sim_gemini_body_and_stream_have_the_published_shape() -> None:
    dialect = GeminiDialect()
    prompt, completion = sim_answer(dialect, {"model": "m", "contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
    assert keys(PUBLISHED["gemini_response"]) - {".usageMetadata.thoughtsTokenCount"} <= keys(orjson.loads(dialect.body(completion, prompt)))
    frames = [f.data for f in dialect.frames(completion, prompt, malformed=False)]
    last = orjson.loads(frames[-1].removeprefix(b"data: "))
    assert keys(PUBLISHED["gemini_stream_events"][-1]) <= keys(last)
    assert all(f.startswith(b"data: ") and f.endswith(b"\r\n\r\n") for f in frames)


def test_sim_azure_body_and_first_chunk_have_the_published_shape() -> None:
    dialect = AzureDialect()
    prompt, completion = sim_answer(dialect, {"model": "dep", "stream": True, "messages": [{"role": "user", "content": "hi"}]})
    assert keys(PUBLISHED["azure_chat_response"]) <= keys(orjson.loads(dialect.body(completion, prompt)))
    first = orjson.loads(dialect.frames(completion, prompt, malformed=False)[0].data.removeprefix(b"data: "))
    assert keys(PUBLISHED["azure_stream_first_chunk"]) <= keys(first)


def test_sim_vertex_claude_takes_the_published_request_and_refuses_without_the_version() -> None:
    dialect = VertexAnthropicDialect()
    prompt = dialect.parse({**PUBLISHED["vertex_claude_request"], "model": "claude-x"})
    assert prompt.stream and prompt.max_tokens == 100
    for wrong in ("vertex-2099", "", None):
        with pytest.raises(Exception, match="anthropic_version"):
            dialect.parse({**PUBLISHED["vertex_claude_request"], "anthropic_version": wrong, "model": "claude-x"})


def test_gemini_thought_signatures_survive_a_round_trip_through_the_tool_call_id() -> None:
    answer = {
        "candidates": [{"content": {"role": "model", "parts": [{"functionCall": {"name": "top_song", "args": {"sign": "W"}}, "thoughtSignature": "c2lnbmF0dXJl"}]}, "finishReason": "STOP"}],
        "responseId": "r9",
    }
    [call] = response_to_openai(answer, model="m", created=1)["choices"][0]["message"]["tool_calls"]
    assert call["id"].endswith("__thought__c2lnbmF0dXJl")
    history = [
        {"role": "user", "content": "song?"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "Song 2"},
    ]
    body = request_to_gemini({"messages": history})
    assert body["contents"][1]["parts"] == [{"functionCall": {"name": "top_song", "args": {"sign": "W"}}, "thoughtSignature": "c2lnbmF0dXJl"}]
    assert body["contents"][2]["parts"][0]["functionResponse"]["name"] == "top_song"


def test_sim_gemini_refuses_a_replayed_call_without_its_thought_signature() -> None:
    dialect = GeminiDialect()
    call = {"functionCall": {"name": "top_song", "args": {}}}
    history = [{"role": "user", "parts": [{"text": "song?"}]}, {"role": "model", "parts": [call]}, {"role": "user", "parts": [{"functionResponse": {"name": "top_song", "response": {}}}]}]
    with pytest.raises(Exception, match="thought_signature"):
        dialect.parse({"model": "m", "contents": history})
    history[1]["parts"] = [{**call, "thoughtSignature": "c2ln"}]
    assert dialect.parse({"model": "m", "contents": history}).tool_result_text is not None
