"""OpenAI clients reach an Anthropic provider through Headway: chat, tools and streaming translated both ways."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import openai

from headway.testing import GatewayThread

TOOLS: Any = [
    {
        "type": "function",
        "function": {
            "name": "lookup_order",
            "description": "Find an order",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string"}, "verbose": {"type": "boolean"}},
                "required": ["order_id"],
            },
        },
    }
]


def sdk(gw: GatewayThread) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key="unused", max_retries=0)


def last_upstream_request(sim: Any, path: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{sim.url}/sim/requests?limit=50") as resp:
        seen = json.loads(resp.read())["requests"]
    return [r for r in seen if r["path"] == path][-1]


def test_system_prompt_and_messages_are_translated(gateway: GatewayThread, sim: Any) -> None:
    completion = sdk(gateway).chat.completions.create(
        model="claude",
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Hello Claude via Headway"},
        ],
        max_tokens=50,
    )
    assert completion.object == "chat.completion"
    assert "Hello Claude via Headway" in (completion.choices[0].message.content or "")
    assert completion.choices[0].finish_reason == "stop"
    upstream = last_upstream_request(sim, "/v1/messages")
    body = upstream["body"]
    assert body["model"] == "claude-haiku-4-5"
    assert body["max_tokens"] == 50
    system = body["system"] if isinstance(body["system"], str) else " ".join(b["text"] for b in body["system"])
    assert "You are terse." in system
    assert [m["role"] for m in body["messages"]] == ["user"]
    assert upstream["headers"].get("anthropic-version")


def test_tool_call_round_trip(gateway: GatewayThread, sim: Any) -> None:
    client = sdk(gateway)
    messages: list[Any] = [{"role": "user", "content": "where is order 42?"}]
    first = client.chat.completions.create(model="claude", messages=messages, tools=TOOLS)
    call = first.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert first.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "lookup_order"  # type: ignore[union-attr]
    assert isinstance(json.loads(call.function.arguments)["order_id"], str)  # type: ignore[union-attr]
    upstream = last_upstream_request(sim, "/v1/messages")["body"]
    assert upstream["tools"][0]["input_schema"]["required"] == ["order_id"]
    messages += [
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": '{"status": "shipped"}'},
    ]
    second = client.chat.completions.create(model="claude", messages=messages, tools=TOOLS)
    assert second.choices[0].finish_reason == "stop" and second.choices[0].message.content
    upstream = last_upstream_request(sim, "/v1/messages")["body"]
    tool_result = upstream["messages"][-1]["content"][0]
    assert tool_result["type"] == "tool_result" and tool_result["tool_use_id"] == call.id


def test_streaming_text_and_usage(gateway: GatewayThread) -> None:
    client = sdk(gateway)
    plain = client.chat.completions.create(model="claude", messages=[{"role": "user", "content": "stream from claude"}])
    chunks = list(
        client.chat.completions.create(
            model="claude",
            messages=[{"role": "user", "content": "stream from claude"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == plain.choices[0].message.content
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == plain.usage.completion_tokens  # type: ignore[union-attr]


def test_streaming_tool_call_arguments_reassemble(gateway: GatewayThread) -> None:
    chunks = list(
        sdk(gateway).chat.completions.create(
            model="claude", messages=[{"role": "user", "content": "order 7 please"}], tools=TOOLS, stream=True
        )
    )
    deltas = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert deltas[0].function.name == "lookup_order"  # type: ignore[union-attr]
    arguments = "".join(d.function.arguments or "" for d in deltas)  # type: ignore[union-attr]
    assert "order_id" in json.loads(arguments)
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"


def test_anthropic_errors_map_to_openai_classes(gateway: GatewayThread) -> None:
    import pytest

    client = sdk(gateway)
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="claude", messages=[{"role": "user", "content": "[sim:fault=429]"}])
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="claude", messages=[{"role": "user", "content": "[sim:fault=503]"}])
