"""Mid-stream continuation (``continue_streams: true``): a stream cut after partial text goes on
from another deployment or fallback, given the partial answer as an assistant prefix; the
client sees one stream ending in [DONE]; the record shows both attempts, tokens and cost."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest

from headway.config.loader import parse_config
from headway.testing import GatewayThread
from tests.conftest import base_config
from tests.http import request

from .simctl import queue_fault, unique

U = {name: unique(name) for name in ("cut", "next", "plain", "claude-cut", "claude-next")}
PRICE = {"input": 1.0, "output": 4.0}


@pytest.fixture(scope="module")
def gw(sim: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayThread]:
    directory = tmp_path_factory.mktemp("stream-continuation")
    models = {
        "cont": {
            "deployments": [{"provider": "sim", "model": U["cut"]}],
            "fallbacks": ["cont-next"],
            "continue_streams": True,
            "price": PRICE,
        },
        "cont-next": {"deployments": [{"provider": "sim", "model": U["next"]}], "price": PRICE},
        "nocont": {"deployments": [{"provider": "sim", "model": U["plain"]}], "fallbacks": ["cont-next"], "price": PRICE},
        "claude-cont": {
            "deployments": [{"provider": "sim-anthropic", "model": U["claude-cut"]}],
            "fallbacks": ["claude-next"],
            "continue_streams": True,
            "price": PRICE,
        },
        "claude-next": {"deployments": [{"provider": "sim-anthropic", "model": U["claude-next"]}], "price": PRICE},
    }
    config = parse_config(base_config(sim.url, f"sqlite:///{directory}/hw.db", directory / "spill", models=models))
    with GatewayThread(config) as gateway:
        yield gateway


def stream(gw: GatewayThread, model: str) -> tuple[Any, list[Any]]:
    client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="unused", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": "tell me a long story"}], stream=True
    )
    return raw, list(raw.parse())  # raises on an error event; ends normally only after [DONE]


def last_request_to(sim: Any, model: str) -> dict[str, Any]:
    recent = request("GET", f"{sim.url}/sim/requests?limit=50").json()["requests"]
    mine = [r for r in recent if (r.get("body") or {}).get("model") == model or r.get("model") == model]
    assert mine, recent[:2]
    return mine[-1]


@pytest.mark.parametrize(("model", "first", "following"), [("cont", "cut", "next"), ("claude-cont", "claude-cut", "claude-next")])
def test_a_cut_stream_continues_from_the_fallback_as_one_stream(
    gw: GatewayThread, sim: Any, model: str, first: str, following: str
) -> None:
    queue_fault(sim.url, "cut", U[first])
    raw, chunks = stream(gw, model)  # no exception: the stream ended with [DONE]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    assert len({c.id for c in chunks}) == 1  # one stream, whatever served each part
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.role) == 1
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]  # one answer, finished once
    record = gw.record(raw.headers["x-request-id"])
    assert record.status_code == 200 and record.error_type is None
    assert [(a.model, a.error_type) for a in record.attempts] == [(U[first], "stream_cut"), (U[following], None)]
    parts = record.quality["continuation"]
    assert [p["deployment"].split("/", 1)[1] for p in parts] == [U[first], U[following]]
    assert all(p["output_tokens"] > 0 and p["cost_usd"] > 0 for p in parts)
    assert record.output_tokens == sum(p["output_tokens"] for p in parts)
    assert record.cost_usd == pytest.approx(sum(p["cost_usd"] for p in parts))
    assert record.served_by == "primary+continued"
    # The next deployment was given the partial answer to continue, not the question again.
    sent = last_request_to(sim, U[following])
    messages = sent["body"]["messages"]
    if model == "cont":  # OpenAI type: the partial answer, then an instruction to continue it
        assert messages[-1]["role"] == "user" and "cut off" in messages[-1]["content"]
        prefix = messages[-2]
    else:  # Anthropic type: the partial answer is the final assistant turn, a prefill
        prefix = messages[-1]
    assert prefix["role"] == "assistant"
    content = prefix["content"]
    partial = content if isinstance(content, str) else "".join(block.get("text", "") for block in content)
    assert partial and text.startswith(partial.rstrip())
    assert len(partial.rstrip()) < len(text)


def test_the_usage_chunk_of_a_continued_stream_counts_every_part(gw: GatewayThread, sim: Any) -> None:
    queue_fault(sim.url, "cut", U["cut"])
    client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="unused", max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="cont",
        messages=[{"role": "user", "content": "tell me a long story"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(raw.parse())
    usage = chunks[-1].usage
    assert usage is not None
    record = gw.record(raw.headers["x-request-id"])
    assert len(record.quality["continuation"]) == 2
    assert (usage.prompt_tokens, usage.completion_tokens) == (record.input_tokens, record.output_tokens)
    assert usage.total_tokens == record.input_tokens + record.output_tokens


def test_without_the_option_the_error_event_stays(gw: GatewayThread, sim: Any) -> None:
    queue_fault(sim.url, "cut", U["plain"])
    with pytest.raises(openai.APIError) as caught:
        stream(gw, "nocont")
    assert "closed the stream before the answer was complete" in str(caught.value.message)
