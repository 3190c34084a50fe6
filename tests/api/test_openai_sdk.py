"""The official OpenAI SDK works against Headway unmodified: sync, async, streaming, embeddings, models."""

from __future__ import annotations

import json
import math

import openai
import pytest

from headway.testing import GatewayThread


def client(gw: GatewayThread, **kwargs: object) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key="unused", max_retries=0, **kwargs)  # type: ignore[arg-type]


def test_sync_chat_completion_reaches_the_simulator(gateway: GatewayThread) -> None:
    completion = client(gateway).chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "Hello there, gateway"}]
    )
    assert completion.object == "chat.completion"
    assert completion.model == "gpt-4o-mini"  # the deployment's model, as the provider reports it
    assert "Hello there, gateway" in (completion.choices[0].message.content or "")
    assert completion.usage is not None and completion.usage.prompt_tokens > 0


def test_response_carries_request_id_and_served_by(gateway: GatewayThread) -> None:
    raw = client(gateway).chat.completions.with_raw_response.create(
        model="chat", messages=[{"role": "user", "content": "hi"}], extra_headers={"x-request-id": "my-trace-42"}
    )
    assert raw.headers["x-request-id"] == "my-trace-42"
    assert raw.headers["x-headway-served-by"] == "primary"
    assert raw.headers["x-headway-deployment"] == "sim/gpt-4o-mini"


def test_generated_request_id_when_client_sends_none_or_a_hostile_one(gateway: GatewayThread) -> None:
    raw = client(gateway).chat.completions.with_raw_response.create(
        model="chat", messages=[{"role": "user", "content": "hi"}], extra_headers={"x-request-id": "bad id\twith spaces"}
    )
    assert raw.headers["x-request-id"].startswith("req_")
    assert len(raw.headers["x-request-id"]) == 36


async def test_async_client(gateway: GatewayThread) -> None:
    async with openai.AsyncOpenAI(base_url=f"{gateway.url}/v1", api_key="unused", max_retries=0) as aclient:
        completion = await aclient.chat.completions.create(model="chat", messages=[{"role": "user", "content": "async hello"}])
        assert "async hello" in (completion.choices[0].message.content or "")
        stream = await aclient.chat.completions.create(
            model="chat", messages=[{"role": "user", "content": "async stream"}], stream=True
        )
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        assert "async stream" in text


def test_streaming_without_usage_hides_the_usage_chunk(gateway: GatewayThread) -> None:
    chunks = list(
        client(gateway).chat.completions.create(model="chat", messages=[{"role": "user", "content": "stream me"}], stream=True)
    )
    assert chunks, "no chunks"
    assert all(c.usage is None for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "stream me" in "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


def test_streaming_with_include_usage(gateway: GatewayThread) -> None:
    chunks = list(
        client(gateway).chat.completions.create(
            model="chat",
            messages=[{"role": "user", "content": "count my tokens"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None and last.usage.completion_tokens > 0
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens


def test_tool_calls_pass_through(gateway: GatewayThread) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
                    "required": ["city", "unit"],
                },
            },
        }
    ]
    completion = client(gateway).chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "weather in Sydney?"}], tools=tools  # type: ignore[arg-type]
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    arguments = json.loads(call.function.arguments)  # type: ignore[union-attr]
    assert arguments["unit"] in ("c", "f") and isinstance(arguments["city"], str)


def test_n_choices_and_json_schema_response_format(gateway: GatewayThread) -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]}
    completion = client(gateway).chat.completions.create(
        model="chat",
        messages=[{"role": "user", "content": "give json"}],
        n=2,
        response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": schema}},  # type: ignore[typeddict-item]
    )
    assert len(completion.choices) == 2
    assert isinstance(json.loads(completion.choices[0].message.content or "")["answer"], int)


def test_unknown_fields_are_forwarded_to_openai_type_providers(gateway: GatewayThread, sim: object) -> None:
    import urllib.request

    client(gateway).chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "forward me"}], extra_body={"vendor_knob": {"x": 1}}
    )
    with urllib.request.urlopen(f"{sim.url}/sim/requests?limit=20") as resp:  # type: ignore[attr-defined]
        seen = json.loads(resp.read())
    bodies = [r.get("body") or {} for r in seen["requests"]]
    forwarded = [b for b in bodies if b.get("vendor_knob") == {"x": 1}]
    assert forwarded and forwarded[-1]["model"] == "gpt-4o-mini"


def test_embeddings(gateway: GatewayThread) -> None:
    result = client(gateway).embeddings.create(model="embed", input=["red apple pie", "red apple tart", "tax law"])
    vectors = [d.embedding for d in result.data]
    assert len(vectors) == 3 and len(vectors[0]) > 8

    def cos(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True)) / (math.hypot(*a) * math.hypot(*b))

    assert cos(vectors[0], vectors[1]) > cos(vectors[0], vectors[2])


def test_models_list_and_retrieve(gateway: GatewayThread) -> None:
    c = client(gateway)
    assert {m.id for m in c.models.list()} == {"chat", "claude", "embed"}
    assert c.models.retrieve("claude").id == "claude"
    with pytest.raises(openai.NotFoundError):
        c.models.retrieve("nope")


def test_sdk_error_classes(gateway: GatewayThread) -> None:
    c = client(gateway)
    with pytest.raises(openai.NotFoundError) as not_found:
        c.chat.completions.create(model="missing", messages=[{"role": "user", "content": "x"}])
    assert not_found.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError) as bad:
        c.chat.completions.create(model="chat", messages=[])
    assert bad.value.param == "messages"
    with pytest.raises(openai.RateLimitError):
        c.chat.completions.create(model="chat", messages=[{"role": "user", "content": "[sim:fault=429]"}])
    with pytest.raises(openai.InternalServerError) as upstream:
        c.chat.completions.create(model="chat", messages=[{"role": "user", "content": "[sim:fault=500]"}])
    assert upstream.value.status_code == 502
