"""Anthropic's ``/v1/messages`` through Headway with the anthropic SDK as the client.

``chat`` is an OpenAI-type provider (the request is translated onto chat) and ``claude``
an Anthropic one; each call is recorded with its cost under the endpoint ``messages``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from headway.config.loader import parse_config
from headway.testing import GatewayThread
from tests.conftest import base_config
from tests.http import post_json, request
from tests.routing.simctl import queue_fault, unique

MODELS = ("chat", "claude")
CUT = unique("cut")
WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture(scope="module")
def gw(sim: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayThread]:
    directory = tmp_path_factory.mktemp("messages")
    models = {"cut": {"deployments": [{"provider": "sim", "model": CUT}], "retries": {"max_retries": 0}}}
    config = parse_config(base_config(sim.url, f"sqlite:///{directory}/hw.db", directory / "spill", models=models))
    with GatewayThread(config) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def client(gw: GatewayThread) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key="unused", max_retries=0)


@pytest.mark.parametrize("model", MODELS)
def test_create_answers_a_message_recorded_with_its_cost(client: anthropic.Anthropic, gw: GatewayThread, model: str) -> None:
    raw = client.messages.with_raw_response.create(
        model=model, max_tokens=200, system="Be brief", messages=[{"role": "user", "content": "Say hello"}]
    )
    message = raw.parse()
    assert message.type == "message" and message.role == "assistant" and message.stop_reason == "end_turn"
    assert message.content and message.content[0].type == "text" and message.content[0].text
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    record = gw.record(raw.headers["x-request-id"])
    assert record.endpoint == "messages" and record.model == model and record.status_code == 200
    assert record.cost_usd is not None and record.cost_usd > 0
    assert record.output_tokens == message.usage.output_tokens


def test_max_tokens_is_the_stop_reason_when_the_answer_is_cut(client: anthropic.Anthropic) -> None:
    message = client.messages.create(model="chat", max_tokens=1, messages=[{"role": "user", "content": "Write a long essay"}])
    assert message.stop_reason == "max_tokens" and message.usage.output_tokens == 1


@pytest.mark.parametrize("model", MODELS)
def test_a_stream_has_anthropics_event_sequence(client: anthropic.Anthropic, gw: GatewayThread, model: str) -> None:
    with client.messages.stream(model=model, max_tokens=200, messages=[{"role": "user", "content": "Tell me a story"}]) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    middle = [kind for kind in kinds[1:-2] if kind not in ("text",)]  # the helper adds ``text`` events
    assert middle[0] == "content_block_start" and middle[-1] == "content_block_stop"
    assert set(middle[1:-1]) == {"content_block_delta"}
    assert final.content[0].type == "text" and final.content[0].text
    assert final.stop_reason == "end_turn" and final.usage.output_tokens > 0 and final.usage.input_tokens > 0


@pytest.mark.parametrize("model", MODELS)
def test_tools_round_trip(client: anthropic.Anthropic, model: str) -> None:
    question = {"role": "user", "content": "What is the weather in Paris?"}
    first = client.messages.create(model=model, max_tokens=300, tools=[WEATHER], tool_choice={"type": "any"}, messages=[question])
    assert first.stop_reason == "tool_use"
    use = next(block for block in first.content if block.type == "tool_use")
    assert use.name == "get_weather" and isinstance(use.input, dict) and "city" in use.input
    second = client.messages.create(
        model=model,
        max_tokens=300,
        tools=[WEATHER],
        messages=[
            question,
            {"role": "assistant", "content": first.content},  # type: ignore[typeddict-item]
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "21 degrees"}]},
        ],
    )
    assert second.stop_reason == "end_turn" and second.content[0].type == "text"


def test_tool_calls_stream_as_input_json_deltas(client: anthropic.Anthropic) -> None:
    with client.messages.stream(
        model="chat", max_tokens=300, tools=[WEATHER], tool_choice={"type": "tool", "name": "get_weather"},
        messages=[{"role": "user", "content": "Weather in Oslo?"}],
    ) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert "input_json" in kinds  # the helper's event for input_json_delta
    use = next(block for block in final.content if block.type == "tool_use")
    assert use.name == "get_weather" and "city" in use.input and final.stop_reason == "tool_use"


def test_count_tokens_grows_with_the_prompt(client: anthropic.Anthropic) -> None:
    short = client.messages.count_tokens(model="chat", messages=[{"role": "user", "content": "hi"}])
    long = client.messages.count_tokens(model="chat", messages=[{"role": "user", "content": "hi " * 400}], system="Be brief")
    with_tools = client.messages.count_tokens(model="chat", messages=[{"role": "user", "content": "hi"}], tools=[WEATHER])  # type: ignore[list-item]
    assert 0 < short.input_tokens < long.input_tokens and short.input_tokens < with_tools.input_tokens
    with pytest.raises(anthropic.NotFoundError):
        client.messages.count_tokens(model="no-such-model", messages=[{"role": "user", "content": "hi"}])


def test_errors_are_typed_and_in_anthropics_shape(client: anthropic.Anthropic, gw: GatewayThread) -> None:
    with pytest.raises(anthropic.NotFoundError) as missing:
        client.messages.create(model="no-such-model", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert missing.value.body["type"] == "error" and missing.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    with pytest.raises(anthropic.BadRequestError) as bad:
        client.messages.create(model="chat", max_tokens=10, messages=[{"role": "tool", "content": "hi"}])  # type: ignore[typeddict-item]
    assert bad.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert "messages[0].role" in bad.value.body["error"]["message"]  # type: ignore[index]
    reply = post_json(f"{gw.url}/v1/messages", {"model": "chat", "messages": [{"role": "user", "content": "hi"}]})
    assert reply.status == 400 and reply.json()["error"]["type"] == "invalid_request_error" and "max_tokens" in reply.json()["error"]["message"]


def test_a_stream_cut_after_it_started_raises_in_the_sdk_and_is_recorded(client: anthropic.Anthropic, gw: GatewayThread, sim: Any) -> None:
    queue_fault(sim.url, "cut", CUT)
    raw = client.messages.with_raw_response.create(model="cut", max_tokens=200, stream=True, messages=[{"role": "user", "content": "break"}])
    with pytest.raises(anthropic.APIStatusError):
        for _event in raw.parse():
            pass
    record = gw.record(raw.headers["x-request-id"])
    assert record.endpoint == "messages" and record.status_code == 502 and record.error_type == "stream_interrupted"


def test_models_answer_in_anthropics_shape_when_asked(client: anthropic.Anthropic, gw: GatewayThread) -> None:
    names = [model.id for model in client.models.list()]
    assert {"chat", "claude"} <= set(names)
    assert client.models.retrieve("claude").type == "model"
    openai_shape = request("GET", f"{gw.url}/v1/models").json()
    assert openai_shape["object"] == "list" and "type" not in openai_shape["data"][0]
    with pytest.raises(anthropic.NotFoundError) as missing:
        client.models.retrieve("no-such-model")
    assert missing.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
