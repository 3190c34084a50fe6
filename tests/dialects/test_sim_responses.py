"""The simulator's ``POST /v1/responses`` spoken to directly by openai-python: answers, the
event sequence and its faults (what the native tests through the gateway rely on)."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.routing.simctl import queue_fault, unique


@pytest.fixture(scope="module")
def client(sim: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{sim.url}/v1", api_key="sk-sim-openai", max_retries=0)


def test_a_response_with_reasoning_and_usage(client: openai.OpenAI) -> None:
    response = client.responses.create(model=unique("sim"), input="Hello there", reasoning={"effort": "low"}, include=["reasoning.encrypted_content"])
    assert [item.type for item in response.output] == ["reasoning", "message"]
    assert response.output_text.startswith("Simulated reply to: Hello there")
    assert response.usage is not None and response.usage.output_tokens_details.reasoning_tokens > 0
    plain = client.responses.create(model=unique("sim"), input="Hello there")
    assert [item.type for item in plain.output] == ["message"] and plain.usage is not None
    assert plain.usage.output_tokens_details.reasoning_tokens == 0


def test_the_stream_is_the_responses_event_sequence(client: openai.OpenAI) -> None:
    events: list[Any] = list(client.responses.create(model=unique("sim"), input="Stream it", stream=True))
    kinds = [event.type for event in events]
    assert kinds[:4] == ["response.created", "response.in_progress", "response.output_item.added", "response.content_part.added"]
    assert kinds[-4:] == ["response.output_text.done", "response.content_part.done", "response.output_item.done", "response.completed"]
    assert [event.sequence_number for event in events] == list(range(len(events)))
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == events[-1].response.output_text


def test_max_output_tokens_ends_incomplete(client: openai.OpenAI) -> None:
    response = client.responses.create(model=unique("sim"), input="A long answer please", max_output_tokens=3)
    assert response.status == "incomplete" and response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"


@pytest.mark.parametrize(("fault", "error"), [("429", openai.RateLimitError), ("500", openai.InternalServerError)])
def test_error_faults_answer_in_openais_error_shape(client: openai.OpenAI, sim: Any, fault: str, error: type[Exception]) -> None:
    model = unique("sim")
    queue_fault(sim.url, fault, model)
    with pytest.raises(error):
        client.responses.create(model=model, input="x")


def test_a_cut_stream_ends_before_response_completed(client: openai.OpenAI, sim: Any) -> None:
    model = unique("sim")
    queue_fault(sim.url, "cut", model)
    kinds: list[str] = []
    with pytest.raises(openai.APIError):
        for event in client.responses.create(model=model, input="this will break", stream=True):
            kinds.append(event.type)
    assert "response.completed" not in kinds
