"""A stream cut after partial output: Headway's words in the error event, and the record
counts the tokens that reached the client (not output_tokens: 0)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest

from headway.config.loader import parse_config
from headway.testing import GatewayThread
from tests.conftest import base_config

from .simctl import queue_fault, unique

U = {name: unique(name) for name in ("cut",)}


@pytest.fixture(scope="module")
def gw(sim: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayThread]:
    directory = tmp_path_factory.mktemp("stream-cut")
    models = {"cutme": {"deployments": [{"provider": "sim", "model": U["cut"]}], "price": {"input": 1.0, "output": 4.0}}}
    config = parse_config(base_config(sim.url, f"sqlite:///{directory}/hw.db", directory / "spill", models=models))
    with GatewayThread(config) as gateway:
        yield gateway


def test_a_cut_stream_says_so_in_headways_words_and_records_what_was_sent(gw: GatewayThread, sim: Any) -> None:
    queue_fault(sim.url, "cut", U["cut"])
    client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="unused", max_retries=0)
    stream = client.chat.completions.with_raw_response.create(
        model="cutme", messages=[{"role": "user", "content": "tell me a long story"}], stream=True
    )
    text = ""
    with pytest.raises(openai.APIError) as caught:
        for chunk in stream.parse():
            if chunk.choices and chunk.choices[0].delta.content:
                text += chunk.choices[0].delta.content
    assert text  # the cut came after partial output
    message = str(caught.value.message)
    assert "closed the stream before the answer was complete" in message
    for transport_word in ("aiohttp", "TransferEncoding", "ClientPayload", "Not enough data", "message='"):
        assert transport_word not in message
    record = gw.record(stream.headers["x-request-id"])
    assert record.error_type == "stream_interrupted"
    assert record.output_tokens == -(-len(text) // 4) > 0
    assert record.input_tokens > 0
    assert record.cost_usd is not None and record.cost_usd > 0
    assert record.quality["usage"] == "estimated from what reached the client"
