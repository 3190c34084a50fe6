"""AnthropicProvider end to end against the provider simulator's Messages API dialect."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from headway.errors import UpstreamError
from headway.providers.anthropic import AnthropicProvider
from headway.providers.base import StreamEvent, Timeouts
from headway.sim import Scenario, SimServer

TIMEOUTS = Timeouts(connect=2.0, first_token=5.0, idle=5.0, total=10.0)
WEATHER: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "weather",
        "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture
async def anthropic_sim() -> AsyncIterator[SimServer]:
    async with SimServer(Scenario(require_api_key="sk-ant-sim")) as server:
        yield server


@pytest.fixture
async def provider(anthropic_sim: SimServer) -> AsyncIterator[AnthropicProvider]:
    p = AnthropicProvider("claude-sim", base_url=anthropic_sim.url, api_key="sk-ant-sim")
    yield p
    await p.close()


def ask(text: str, **extra: object) -> dict:
    return {"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": text}], **extra}


def tool_request(**extra: object) -> dict:
    return ask("weather in Oslo?", tools=[WEATHER], tool_choice="required", **extra)


async def collect(stream: AsyncIterator[StreamEvent]) -> list[StreamEvent]:
    return [event async for event in stream]


def streamed_text(events: list[StreamEvent]) -> str:
    return "".join(e.chunk["choices"][0]["delta"].get("content") or "" for e in events if e.chunk["choices"])


def streamed_tool_calls(events: list[StreamEvent]) -> dict[int, dict]:
    calls: dict[int, dict] = {}
    for event in events:
        for choice in event.chunk["choices"]:
            for call in choice["delta"].get("tool_calls", []):
                entry = calls.setdefault(call["index"], {"id": None, "name": None, "arguments": ""})
                entry["id"] = call.get("id") or entry["id"]
                entry["name"] = call["function"].get("name") or entry["name"]
                entry["arguments"] += call["function"].get("arguments", "")
    return calls


async def test_chat_against_sim(anthropic_sim: SimServer, provider: AnthropicProvider) -> None:
    result = await provider.chat(ask("hello sim", max_tokens=64), model="sim-chat", timeouts=TIMEOUTS)

    received = anthropic_sim.state.recorder.recent(1)[0]
    assert received["path"] == "/v1/messages"
    assert received["body"]["system"] == [{"type": "text", "text": "be brief"}]
    assert received["body"]["max_tokens"] == 64
    choice = result.body["choices"][0]
    assert choice["message"]["content"].startswith("Simulated reply to: hello sim")
    assert choice["finish_reason"] == "stop"
    assert result.body["model"] == "sim-chat"
    assert result.usage.input_tokens > 0
    assert result.usage.output_tokens > 0
    assert result.body["usage"]["total_tokens"] == result.usage.input_tokens + result.usage.output_tokens


async def test_stream_against_sim_matches_the_non_streaming_answer(provider: AnthropicProvider) -> None:
    whole = await provider.chat(ask("same question"), model="sim-chat", timeouts=TIMEOUTS)
    events = await collect(provider.chat_stream(ask("same question"), model="sim-chat", timeouts=TIMEOUTS))

    assert streamed_text(events) == whole.body["choices"][0]["message"]["content"]
    assert [e.chunk["choices"][0]["finish_reason"] for e in events if e.chunk["choices"]][-1] == "stop"
    assert events[-1].chunk["choices"] == []
    assert events[-1].usage == whole.usage


async def test_tool_call_against_sim(anthropic_sim: SimServer, provider: AnthropicProvider) -> None:
    result = await provider.chat(tool_request(), model="sim-chat", timeouts=TIMEOUTS)

    body = anthropic_sim.state.recorder.recent(1)[0]["body"]
    assert body["tool_choice"] == {"type": "any"}
    assert body["tools"][0]["input_schema"] == WEATHER["function"]["parameters"]
    choice = result.body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    (call,) = choice["message"]["tool_calls"]
    assert call["function"]["name"] == "weather"
    assert isinstance(orjson.loads(call["function"]["arguments"])["city"], str)

    events = await collect(provider.chat_stream(tool_request(), model="sim-chat", timeouts=TIMEOUTS))
    streamed = streamed_tool_calls(events)
    assert list(streamed) == [0]
    assert streamed[0]["name"] == "weather"
    assert streamed[0]["id"].startswith("toolu_")
    assert orjson.loads(streamed[0]["arguments"]) == orjson.loads(call["function"]["arguments"])


async def test_tool_result_reaches_the_sim_as_a_tool_result(provider: AnthropicProvider) -> None:
    request = {
        "messages": [
            {"role": "user", "content": "weather in Oslo?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "toolu_1", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Oslo"}'}}
                ],
            },
            {"role": "tool", "tool_call_id": "toolu_1", "content": "sunny and 21C"},
        ],
        "tools": [WEATHER],
    }
    result = await provider.chat(request, model="sim-chat", timeouts=TIMEOUTS)
    assert "sunny and 21C" in result.body["choices"][0]["message"]["content"]


@pytest.mark.parametrize(("fault", "kind"), [("429", "rate_limit"), ("503", "server_error"), ("500", "server_error")])
async def test_sim_error_faults_are_classified(provider: AnthropicProvider, fault: str, kind: str) -> None:
    with pytest.raises(UpstreamError) as caught:
        await provider.chat(ask(f"hi [sim:fault={fault}]"), model="sim-chat", timeouts=TIMEOUTS)
    assert caught.value.kind == kind
    if fault == "429":
        assert caught.value.retry_after is not None


@pytest.mark.parametrize(("fault", "kind"), [("cut", "stream_cut"), ("malformed", "bad_response")])
async def test_sim_stream_faults_are_classified(provider: AnthropicProvider, fault: str, kind: str) -> None:
    with pytest.raises(UpstreamError) as caught:
        await collect(provider.chat_stream(ask(f"hi [sim:fault={fault}]"), model="sim-chat", timeouts=TIMEOUTS))
    assert caught.value.kind == kind


async def test_sim_rejects_a_wrong_key_as_auth(anthropic_sim: SimServer) -> None:
    provider = AnthropicProvider("claude-sim", base_url=anthropic_sim.url, api_key="wrong")
    try:
        with pytest.raises(UpstreamError) as caught:
            await provider.chat(ask("hi"), model="sim-chat", timeouts=TIMEOUTS)
    finally:
        await provider.close()
    assert caught.value.kind == "auth"


async def test_broken_tool_arguments_reach_the_caller_raw_for_guards_to_repair(provider: AnthropicProvider) -> None:
    request = tool_request()
    request["messages"][-1]["content"] += " [sim:fault=bad_tool_json]"
    result = await provider.chat(request, model="sim-chat", timeouts=TIMEOUTS)
    arguments = result.body["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
    assert isinstance(arguments, str)
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(arguments)
