"""``/v1/responses`` through Headway with openai-python as the client, over both provider types.

The model ``chat`` is an OpenAI-type provider and ``claude`` an Anthropic one (the
simulator speaks both); every request is translated onto the chat path, so each is
recorded with its cost under the endpoint ``responses``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest
from pydantic import BaseModel

from headway.auth.erasure import Subject
from headway.config.loader import parse_config
from headway.testing import GatewayThread
from tests.conftest import base_config
from tests.http import post_json, request
from tests.routing.simctl import queue_fault, unique

MODELS = ("chat", "claude")
CUT = unique("cut")
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": False},
    "strict": True,
}


@pytest.fixture(scope="module")
def gw(sim: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayThread]:
    directory = tmp_path_factory.mktemp("responses")
    models = {"cut": {"deployments": [{"provider": "sim", "model": CUT}], "retries": {"max_retries": 0}}}
    config = parse_config(base_config(sim.url, f"sqlite:///{directory}/hw.db", directory / "spill", models=models))
    with GatewayThread(config) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def client(gw: GatewayThread) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key="unused", max_retries=0)


@pytest.mark.parametrize("model", MODELS)
def test_create_answers_a_response_recorded_with_its_cost(client: openai.OpenAI, gw: GatewayThread, model: str) -> None:
    raw = client.responses.with_raw_response.create(model=model, input="Say hello", instructions="Be brief")
    response = raw.parse()
    assert response.id.startswith("resp_") and response.object == "response" and response.status == "completed"
    assert response.output_text and response.output[0].type == "message"
    assert response.usage is not None and response.usage.input_tokens > 0 and response.usage.output_tokens > 0
    assert response.instructions == "Be brief"
    record = gw.record(raw.headers["x-request-id"])
    assert record.endpoint == "responses" and record.model == model and record.status_code == 200
    assert record.cost_usd is not None and record.cost_usd > 0
    assert record.input_tokens == response.usage.input_tokens


@pytest.mark.parametrize("model", MODELS)
def test_a_stream_has_the_responses_event_sequence(client: openai.OpenAI, gw: GatewayThread, model: str) -> None:
    events = list(client.responses.create(model=model, input="Tell me a story", stream=True))
    kinds = [event.type for event in events]
    assert kinds[:4] == ["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"]
    assert kinds[-4:] == ["response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed"]
    assert set(kinds[4:-4]) == {"response.output_text.delta"}
    assert [event.sequence_number for event in events] == list(range(len(events)))
    deltas = "".join(event.delta for event in events if event.type == "response.output_text.delta")
    completed = events[-1].response
    assert deltas and completed.output_text == deltas and events[-4].text == deltas
    assert completed.usage is not None and completed.usage.output_tokens > 0
    # The stream's response is stored like any other.
    assert client.responses.retrieve(completed.id).output_text == deltas


def test_the_stream_helper_gives_the_final_response(client: openai.OpenAI) -> None:
    with client.responses.stream(model="chat", input="Stream with the helper") as stream:
        text = "".join(event.delta for event in stream if event.type == "response.output_text.delta")
        final = stream.get_final_response()
    assert text and final.output_text == text


@pytest.mark.parametrize("model", MODELS)
def test_function_tools_and_their_outputs(client: openai.OpenAI, model: str) -> None:
    first = client.responses.create(model=model, input="What is the weather in Paris?", tools=[WEATHER], tool_choice="required")
    calls = [item for item in first.output if item.type == "function_call"]
    assert calls and calls[0].name == "get_weather" and calls[0].call_id
    assert "city" in calls[0].arguments
    second = client.responses.create(
        model=model,
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": calls[0].call_id, "output": '{"celsius": 21}'}],
        tools=[WEATHER],
    )
    assert second.status == "completed" and second.output_text
    assert second.previous_response_id == first.id


def test_tool_calls_stream_as_function_call_events(client: openai.OpenAI) -> None:
    events = list(client.responses.create(model="chat", input="Weather in Oslo?", tools=[WEATHER], tool_choice="required", stream=True))
    kinds = [event.type for event in events]
    assert "response.function_call_arguments.delta" in kinds and "response.function_call_arguments.done" in kinds
    done = next(event for event in events if event.type == "response.function_call_arguments.done")
    call = next(item for item in events[-1].response.output if item.type == "function_call")
    assert done.arguments == call.arguments and call.name == "get_weather"


@pytest.mark.parametrize("model", MODELS)
def test_previous_response_id_continues_the_conversation(client: openai.OpenAI, model: str) -> None:
    first = client.responses.create(model=model, input="My name is Ada. Remember it.")
    second = client.responses.create(model=model, input="What is my name?", previous_response_id=first.id)
    assert first.usage is not None and second.usage is not None
    # The whole first turn (its input and its answer) went upstream again as context.
    assert second.usage.input_tokens > first.usage.input_tokens + first.usage.output_tokens
    items = client.responses.input_items.list(second.id)
    assert [item.type for item in items.data] == ["message"]  # only this turn's own input
    alone = client.responses.create(model=model, input="What is my name?")
    assert alone.usage is not None and alone.usage.input_tokens < second.usage.input_tokens


class Weather(BaseModel):
    city: str
    celsius: int


def test_structured_output_with_responses_parse(client: openai.OpenAI) -> None:
    # OpenAI-type only: the Anthropic adapter turns a schema into an instruction, which the
    # simulator's Anthropic dialect ignores (the same 422 on /v1/chat/completions).
    parsed = client.responses.parse(model="chat", input="Weather in Rome as JSON", text_format=Weather)
    assert isinstance(parsed.output_parsed, Weather)
    assert isinstance(parsed.output_parsed.city, str)


def test_retrieve_input_items_and_delete(client: openai.OpenAI) -> None:
    created = client.responses.create(model="chat", input=[{"role": "user", "content": "one"}, {"role": "user", "content": "two"}])
    assert client.responses.retrieve(created.id).model_dump() == created.model_dump()
    items = client.responses.input_items.list(created.id, order="asc")
    assert [item.content[0].text for item in items.data] == ["one", "two"]  # type: ignore[union-attr]
    first_only = client.responses.input_items.list(created.id, order="asc", limit=1)
    assert len(first_only.data) == 1 and first_only.has_more
    client.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="chat", input="continue", previous_response_id=created.id)


def test_store_false_keeps_nothing(client: openai.OpenAI) -> None:
    response = client.responses.create(model="chat", input="Forget me", store=False)
    assert response.output_text
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(response.id)


def test_cancel_is_refused_for_a_finished_response(client: openai.OpenAI) -> None:
    created = client.responses.create(model="chat", input="done already")
    with pytest.raises(openai.BadRequestError):
        client.responses.cancel(created.id)  # only background responses cancel (test_responses_background.py)


def test_erasure_removes_a_subjects_stored_responses(client: openai.OpenAI, gw: GatewayThread) -> None:
    mine = client.responses.create(model="chat", input="about me", user="erase-me@example.com")
    other = client.responses.create(model="chat", input="about them", user="keep-me@example.com")
    removed = gw.runtime.auth.erasure.erase(Subject("erase-me@example.com", "pseudonym-not-used"))
    assert removed["responses"] == 1
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(mine.id)
    assert client.responses.retrieve(other.id).id == other.id


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "chat"}, "input"),
        ({"model": "chat", "input": 7}, "input"),
        ({"model": "chat", "input": "x", "tools": [{"type": "web_search"}]}, "tools[0].type"),
        ({"model": "chat", "input": [{"type": "computer_call"}]}, "input[0].type"),
        ({"model": "chat", "input": "x", "text": {"format": {"type": "yaml"}}}, "text.format.type"),
        ({"model": "chat", "input": "x", "frobnicate": True}, "frobnicate"),
        ({"model": "chat", "input": "x", "store": "yes"}, "store"),
    ],
)
def test_bad_requests_are_precise_400s(gw: GatewayThread, body: dict[str, Any], param: str) -> None:
    reply = post_json(f"{gw.url}/v1/responses", body)
    assert reply.status == 400, reply.body
    assert reply.json()["error"]["param"] == param


def test_unknown_ids_are_404s(gw: GatewayThread) -> None:
    for method, path in (("GET", "resp_nope"), ("DELETE", "resp_nope"), ("GET", "resp_nope/input_items"), ("POST", "resp_nope/cancel")):
        reply = request(method, f"{gw.url}/v1/responses/{path}")
        assert reply.status == 404 and reply.json()["error"]["code"] == "response_not_found"


def test_a_stream_cut_after_it_started_raises_in_the_sdk_and_is_recorded(client: openai.OpenAI, gw: GatewayThread, sim: Any) -> None:
    queue_fault(sim.url, "cut", CUT)
    stream = client.responses.with_raw_response.create(model="cut", input="this will break", stream=True)
    request_id = stream.headers["x-request-id"]
    with pytest.raises(openai.APIError):
        for _event in stream.parse():
            pass
    record = gw.record(request_id)
    assert record.endpoint == "responses" and record.status_code == 502 and record.error_type == "stream_interrupted"

