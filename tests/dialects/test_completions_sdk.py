"""Legacy ``/v1/completions`` through Headway with openai-python's ``client.completions``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest

from headway.config.loader import parse_config
from headway.testing import GatewayThread
from tests.conftest import base_config
from tests.http import post_json

MODELS = ("chat", "claude")


@pytest.fixture(scope="module")
def gw(sim: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayThread]:
    directory = tmp_path_factory.mktemp("completions")
    config = parse_config(base_config(sim.url, f"sqlite:///{directory}/hw.db", directory / "spill"))
    with GatewayThread(config) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def client(gw: GatewayThread) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key="unused", max_retries=0)


@pytest.mark.parametrize("model", MODELS)
def test_a_prompt_gets_a_text_completion_recorded_with_its_cost(client: openai.OpenAI, gw: GatewayThread, model: str) -> None:
    raw = client.completions.with_raw_response.create(model=model, prompt="Once upon a time", max_tokens=30)
    completion = raw.parse()
    assert completion.object == "text_completion" and completion.id.startswith("cmpl-")
    assert completion.choices[0].text and completion.choices[0].finish_reason in ("stop", "length")
    assert completion.usage is not None and completion.usage.completion_tokens > 0
    record = gw.record(raw.headers["x-request-id"])
    assert record.endpoint == "completions" and record.model == model and record.cost_usd and record.cost_usd > 0


def test_the_legacy_default_of_16_tokens_applies(client: openai.OpenAI) -> None:
    completion = client.completions.create(model="chat", prompt="Write a very long essay about the sea")
    assert completion.usage is not None and completion.usage.completion_tokens <= 16


def test_echo_puts_the_prompt_first(client: openai.OpenAI) -> None:
    completion = client.completions.create(model="chat", prompt="Echo me:", echo=True, max_tokens=10)
    assert completion.choices[0].text.startswith("Echo me:") and len(completion.choices[0].text) > len("Echo me:")


@pytest.mark.parametrize("model", MODELS)
def test_a_stream_of_text_chunks(client: openai.OpenAI, model: str) -> None:
    chunks = list(client.completions.create(model=model, prompt="Count to five", max_tokens=40, stream=True, stream_options={"include_usage": True}))
    assert all(chunk.object == "text_completion" for chunk in chunks)
    text = "".join(choice.text for chunk in chunks for choice in chunk.choices)
    assert text
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    finishes = [choice.finish_reason for chunk in chunks for choice in chunk.choices if choice.finish_reason]
    assert len(finishes) == 1


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "chat"}, "prompt"),
        ({"model": "chat", "prompt": [1, 2, 3]}, "prompt"),
        ({"model": "chat", "prompt": ["a", "b"]}, "prompt"),
        ({"model": "chat", "prompt": "x", "suffix": "y"}, "suffix"),
        ({"model": "chat", "prompt": "x", "best_of": 3}, "best_of"),
        ({"model": "chat", "prompt": "x", "max_tokens": 0}, "max_tokens"),
    ],
)
def test_what_chat_cannot_do_is_a_precise_400(gw: GatewayThread, body: dict[str, Any], param: str) -> None:
    reply = post_json(f"{gw.url}/v1/completions", body)
    assert reply.status == 400, reply.body
    assert reply.json()["error"]["param"] == param
