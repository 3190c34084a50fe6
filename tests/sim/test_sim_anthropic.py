"""The Anthropic Messages dialect, through the official ``anthropic`` SDK and raw SSE."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import anthropic
import jsonschema
import pytest

from headway.sim import Scenario, SimServer, start_in_thread
from headway.sim.tokens import count_tokens

SEARCH_TOOL: Any = {
    "name": "search",
    "description": "Search the docs",
    "input_schema": {
        "type": "object",
        "properties": {
            "query": {"type": "string"},
            "limit": {"type": "integer", "minimum": 1, "maximum": 10},
            "scope": {"enum": ["docs", "code"]},
        },
        "required": ["query", "limit"],
    },
}


def user(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


def parse_sse(raw: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in raw.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


async def test_message_has_anthropic_shape(claude: anthropic.AsyncAnthropic) -> None:
    message = await claude.messages.create(
        model="claude-test",
        max_tokens=100,
        system="You are terse.",
        messages=[{"role": "user", "content": [{"type": "text", "text": "Name a colour"}]}],
    )
    assert message.id.startswith("msg_")
    assert message.type == "message" and message.role == "assistant"
    assert message.model == "claude-test"
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    block = message.content[0]
    assert block.type == "text"
    assert block.text.startswith("Simulated reply to: Name a colour")
    assert message.usage.output_tokens == count_tokens(block.text)
    assert message.usage.input_tokens == count_tokens("You are terse.") + count_tokens("Name a colour")


async def test_max_tokens_and_stop_sequences(claude: anthropic.AsyncAnthropic) -> None:
    short = await claude.messages.create(model="c", max_tokens=2, messages=user("hello"))
    assert short.stop_reason == "max_tokens"
    assert short.content[0].type == "text" and short.content[0].text == "Simulated reply"
    stopped = await claude.messages.create(
        model="c", max_tokens=50, messages=user("hello"), stop_sequences=["reply"]
    )
    assert stopped.stop_reason == "stop_sequence" and stopped.stop_sequence == "reply"
    assert stopped.content[0].type == "text" and stopped.content[0].text == "Simulated "


async def test_missing_max_tokens_is_invalid_request(sim: SimServer, http: aiohttp.ClientSession) -> None:
    body = {"model": "c", "messages": user("hi")}
    async with http.post(f"{sim.url}/v1/messages", json=body) as response:
        assert response.status == 400
        error = await response.json()
    assert error["type"] == "error"
    assert error["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in error["error"]["message"]


async def test_tool_use_input_satisfies_input_schema(claude: anthropic.AsyncAnthropic) -> None:
    message = await claude.messages.create(
        model="c", max_tokens=100, messages=user("find the retry docs"), tools=[SEARCH_TOOL]
    )
    assert message.stop_reason == "tool_use"
    block = message.content[0]
    assert block.type == "tool_use"
    assert block.id.startswith("toolu_") and block.name == "search"
    jsonschema.validate(block.input, SEARCH_TOOL["input_schema"])


async def test_tool_result_gets_text_and_tool_choice_none_disables_tools(
    claude: anthropic.AsyncAnthropic,
) -> None:
    messages: list[Any] = [
        {"role": "user", "content": "find the retry docs"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "search", "input": {}}],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "retry.md"}],
        },
    ]
    answer = await claude.messages.create(model="c", max_tokens=100, messages=messages, tools=[SEARCH_TOOL])
    assert answer.stop_reason == "end_turn"
    assert answer.content[0].type == "text"
    assert answer.content[0].text.startswith("Simulated reply to tool result: retry.md")
    none = await claude.messages.create(
        model="c", max_tokens=100, messages=user("x"), tools=[SEARCH_TOOL], tool_choice={"type": "none"}
    )
    assert none.content[0].type == "text"


async def test_stream_event_sequence_is_exact(sim: SimServer, http: aiohttp.ClientSession) -> None:
    body = {"model": "c", "max_tokens": 50, "stream": True, "messages": user("stream please")}
    async with http.post(f"{sim.url}/v1/messages", json=body) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        events = parse_sse(await response.text())
    names = [name for name, _ in events]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(names[3:-3]) == {"content_block_delta"}
    assert all(data["type"] == name for name, data in events)
    start = events[0][1]["message"]
    assert start["content"] == [] and start["stop_reason"] is None
    text = "".join(data["delta"]["text"] for name, data in events if name == "content_block_delta")
    assert text.startswith("Simulated reply to: stream please")
    delta = events[-2][1]
    assert delta["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}
    assert delta["usage"]["output_tokens"] == count_tokens(text) == len(names) - 6


async def test_sdk_stream_matches_non_stream(claude: anthropic.AsyncAnthropic) -> None:
    plain = await claude.messages.create(model="c", max_tokens=64, messages=user("same please"))
    async with claude.messages.stream(model="c", max_tokens=64, messages=user("same please")) as stream:
        pieces = [text async for text in stream.text_stream]
        final = await stream.get_final_message()
    assert plain.content[0].type == "text"
    assert "".join(pieces) == plain.content[0].text
    assert final.usage.output_tokens == plain.usage.output_tokens
    assert final.stop_reason == "end_turn"


async def test_streamed_tool_use_assembles_input(claude: anthropic.AsyncAnthropic) -> None:
    async with claude.messages.stream(
        model="c",
        max_tokens=64,
        messages=user("search"),
        tools=[SEARCH_TOOL],
        tool_choice={"type": "tool", "name": "search"},
    ) as stream:
        final = await stream.get_final_message()
    block = final.content[0]
    assert block.type == "tool_use" and block.name == "search"
    jsonschema.validate(block.input, SEARCH_TOOL["input_schema"])
    assert final.stop_reason == "tool_use"


async def test_errors_use_anthropic_shape(claude: anthropic.AsyncAnthropic) -> None:
    with pytest.raises(anthropic.InternalServerError) as caught:
        await claude.messages.create(
            model="c", max_tokens=10, messages=user("x"), extra_headers={"x-sim-fault": "503"}
        )
    assert caught.value.status_code == 503
    body: Any = caught.value.body
    assert body["type"] == "error" and body["error"]["type"] == "overloaded_error"


def test_sync_anthropic_client_against_threaded_sim() -> None:
    with start_in_thread(Scenario()) as handle:
        client = anthropic.Anthropic(base_url=handle.url, api_key="k", max_retries=0)
        message = client.messages.create(model="c", max_tokens=20, messages=user("sync hello"))
        assert message.content[0].type == "text"
        assert message.content[0].text.startswith("Simulated reply to: sync hello")
        client.close()
