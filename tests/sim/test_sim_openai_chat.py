"""The OpenAI chat dialect, driven through the official ``openai`` SDK."""

from __future__ import annotations

import json
from typing import Any, Literal

import jsonschema
import openai
import pytest
from pydantic import BaseModel

from headway.sim import Scenario, SimServer, start_in_thread
from headway.sim.tokens import count_tokens

WEATHER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "minLength": 3},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer", "minimum": 1, "maximum": 7},
        "hourly": {"type": "boolean"},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
        "where": {
            "type": "object",
            "properties": {"lat": {"type": "number", "minimum": -90, "maximum": 90}},
            "required": ["lat"],
        },
    },
    "required": ["city", "unit", "days"],
    "additionalProperties": False,
}
TOOLS: list[Any] = [
    {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}},
    {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_SCHEMA}},
]


def user(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


async def test_completion_has_openai_shape_and_echoes_model(oai: openai.AsyncOpenAI) -> None:
    reply = await oai.chat.completions.create(
        model="gpt-test", messages=user("What is the capital of France?")
    )
    assert reply.id.startswith("chatcmpl-")
    assert reply.object == "chat.completion"
    assert reply.model == "gpt-test"
    assert reply.system_fingerprint
    choice = reply.choices[0]
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    assert choice.message.content is not None
    assert choice.message.content.startswith("Simulated reply to: What is the capital of France?")
    assert reply.usage is not None
    assert reply.usage.completion_tokens == count_tokens(choice.message.content) == 16
    assert reply.usage.prompt_tokens == count_tokens("What is the capital of France?")
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens


async def test_content_is_deterministic_per_seed_and_conversation(start_sim: Any) -> None:
    async def ask(server: SimServer, text: str) -> str | None:
        async with openai.AsyncOpenAI(base_url=f"{server.url}/v1", api_key="k", max_retries=0) as client:
            reply = await client.chat.completions.create(model="m", messages=user(text))
            return reply.choices[0].message.content

    first, again = await start_sim(seed=1), await start_sim(seed=1)
    other_seed = await start_sim(seed=2)
    assert await ask(first, "same question") == await ask(again, "same question")
    assert await ask(first, "same question") != await ask(other_seed, "same question")
    assert await ask(first, "same question") != await ask(first, "another question")


async def test_max_tokens_cuts_with_finish_length(oai: openai.AsyncOpenAI) -> None:
    reply = await oai.chat.completions.create(model="m", messages=user("hello"), max_tokens=3)
    assert reply.choices[0].finish_reason == "length"
    assert reply.choices[0].message.content == "Simulated reply to"
    assert reply.usage is not None and reply.usage.completion_tokens == 3
    newer = await oai.chat.completions.create(model="m", messages=user("hello"), max_completion_tokens=2)
    assert newer.choices[0].message.content == "Simulated reply"


async def test_stop_sequence_ends_the_text(oai: openai.AsyncOpenAI) -> None:
    reply = await oai.chat.completions.create(model="m", messages=user("hello"), stop=[" to:"])
    assert reply.choices[0].message.content == "Simulated reply"
    assert reply.choices[0].finish_reason == "stop"


async def test_n_returns_distinct_choices(oai: openai.AsyncOpenAI) -> None:
    reply = await oai.chat.completions.create(model="m", messages=user("pick a word"), n=3)
    assert [choice.index for choice in reply.choices] == [0, 1, 2]
    texts = {choice.message.content for choice in reply.choices}
    assert len(texts) == 3
    assert reply.usage is not None
    assert reply.usage.completion_tokens == sum(count_tokens(text or "") for text in texts)


async def test_stream_matches_non_stream_and_reports_usage(oai: openai.AsyncOpenAI) -> None:
    plain = await oai.chat.completions.create(model="m", messages=user("stream this"))
    stream = await oai.chat.completions.create(
        model="m", messages=user("stream this"), stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream]
    assert all(chunk.object == "chat.completion.chunk" for chunk in chunks)
    assert len({chunk.id for chunk in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)
    assert text == plain.choices[0].message.content
    finishes = [chunk.choices[0].finish_reason for chunk in chunks if chunk.choices]
    assert finishes[-1] == "stop" and set(finishes[:-1]) == {None}
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None and plain.usage is not None
    assert last.usage.completion_tokens == plain.usage.completion_tokens
    assert last.usage.prompt_tokens == plain.usage.prompt_tokens
    # One content chunk per token.
    assert (
        sum(1 for chunk in chunks if chunk.choices and chunk.choices[0].delta.content)
        == last.usage.completion_tokens
    )


async def test_stream_without_include_usage_has_no_usage_chunk(oai: openai.AsyncOpenAI) -> None:
    stream = await oai.chat.completions.create(model="m", messages=user("hi"), stream=True)
    chunks = [chunk async for chunk in stream]
    assert all(chunk.choices and chunk.usage is None for chunk in chunks)


async def test_tool_call_arguments_satisfy_the_schema(oai: openai.AsyncOpenAI) -> None:
    reply = await oai.chat.completions.create(
        model="m",
        messages=user("weather in Paris?"),
        tools=TOOLS,
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    assert choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert call.type == "function" and call.id.startswith("call_")
    assert call.function.name == "get_weather"
    jsonschema.validate(json.loads(call.function.arguments), WEATHER_SCHEMA)


async def test_tool_choice_auto_calls_first_tool_and_none_answers_text(oai: openai.AsyncOpenAI) -> None:
    auto = await oai.chat.completions.create(model="m", messages=user("go"), tools=TOOLS)
    assert auto.choices[0].message.tool_calls is not None
    first = auto.choices[0].message.tool_calls[0]
    assert first.type == "function" and first.function.name == "lookup"
    none = await oai.chat.completions.create(model="m", messages=user("go"), tools=TOOLS, tool_choice="none")
    assert none.choices[0].message.tool_calls is None
    assert none.choices[0].finish_reason == "stop"


async def test_tool_result_gets_a_text_answer(oai: openai.AsyncOpenAI) -> None:
    messages: list[Any] = [
        {"role": "user", "content": "weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 21C"},
    ]
    reply = await oai.chat.completions.create(model="m", messages=messages, tools=TOOLS)
    assert reply.choices[0].finish_reason == "stop"
    assert reply.choices[0].message.content is not None
    assert reply.choices[0].message.content.startswith("Simulated reply to tool result: sunny, 21C")


async def test_streamed_tool_call_assembles_to_valid_arguments(oai: openai.AsyncOpenAI) -> None:
    stream = await oai.chat.completions.create(
        model="m",
        messages=user("weather?"),
        tools=TOOLS,
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        stream=True,
    )
    chunks = [chunk async for chunk in stream]
    deltas = [call for chunk in chunks for call in chunk.choices[0].delta.tool_calls or ()]
    assert deltas[0].id is not None and deltas[0].function is not None
    assert deltas[0].function.name == "get_weather"
    assert all(delta.index == 0 for delta in deltas)
    arguments = "".join(delta.function.arguments or "" for delta in deltas if delta.function)
    jsonschema.validate(json.loads(arguments), WEATHER_SCHEMA)
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


class Address(BaseModel):
    street: str
    zip_code: str


class Person(BaseModel):
    name: str
    age: int
    role: Literal["admin", "user"]
    addresses: list[Address]
    nickname: str | None


async def test_json_schema_response_parses_into_the_model(oai: openai.AsyncOpenAI) -> None:
    reply = await oai.chat.completions.parse(
        model="m", messages=user("describe someone"), response_format=Person
    )
    person = reply.choices[0].message.parsed
    assert isinstance(person, Person)
    assert person.addresses and isinstance(person.addresses[0], Address)


async def test_json_schema_response_validates(oai: openai.AsyncOpenAI) -> None:
    schema = {**WEATHER_SCHEMA, "$defs": {"day": {"type": "integer", "minimum": 3, "maximum": 3}}}
    schema["properties"] = {**WEATHER_SCHEMA["properties"], "days": {"$ref": "#/$defs/day"}}
    reply = await oai.chat.completions.create(
        model="m",
        messages=user("forecast"),
        response_format={"type": "json_schema", "json_schema": {"name": "forecast", "schema": schema}},
    )
    value = json.loads(reply.choices[0].message.content or "")
    jsonschema.validate(value, schema)
    assert value["days"] == 3


async def test_json_object_response_is_an_object(oai: openai.AsyncOpenAI) -> None:
    reply = await oai.chat.completions.create(
        model="m", messages=user("json please"), response_format={"type": "json_object"}
    )
    value = json.loads(reply.choices[0].message.content or "")
    assert isinstance(value, dict)
    assert value["reply"].startswith("Simulated reply to: json please")


async def test_invalid_request_is_a_400_in_openai_shape(oai: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await oai.chat.completions.create(model="m", messages=[])
    assert caught.value.status_code == 400
    body: Any = caught.value.body
    assert body["type"] == "invalid_request_error"
    assert body["param"] == "messages"


def test_sync_client_against_a_threaded_sim() -> None:
    handle = start_in_thread(Scenario(seed=3))
    try:
        client = openai.OpenAI(base_url=f"{handle.url}/v1", api_key="k", max_retries=0)
        reply = client.chat.completions.create(model="m", messages=user("from a thread"))
        assert reply.choices[0].message.content is not None
        assert reply.choices[0].message.content.startswith("Simulated reply to: from a thread")
        stream = client.chat.completions.create(model="m", messages=user("from a thread"), stream=True)
        streamed = "".join(chunk.choices[0].delta.content or "" for chunk in stream)
        assert streamed == reply.choices[0].message.content
        client.close()
    finally:
        handle.stop()
    with pytest.raises(openai.APIConnectionError):
        openai.OpenAI(base_url=f"{handle.url}/v1", api_key="k", max_retries=0).models.list()
