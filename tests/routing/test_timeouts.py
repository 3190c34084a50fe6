"""Each timeout, per model and per deployment, against a simulator that hangs, stalls or answers late."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from headway.config.loader import parse_config
from headway.testing import GatewayThread
from tests.conftest import base_config
from tests.http import post_json

from .simctl import queue_fault, received, unique

U = {name: unique(name) for name in ("first", "idle", "total", "slowdep", "okdep", "rescue")}


@pytest.fixture(scope="module")
def blackhole() -> Iterator[int]:
    """A port that never completes a TCP handshake: its accept queue is full and never drained."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = int(server.getsockname()[1])
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    yield port
    for filler in fillers:
        filler.close()
    server.close()


@pytest.fixture(scope="module")
def gw(sim: Any, blackhole: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayThread]:
    directory = tmp_path_factory.mktemp("timeouts")
    no_retry = {"max_retries": 0}
    models = {
        "connect": {
            "deployments": [{"provider": "blackhole", "model": "x"}],
            "timeouts": {"connect": 0.2},
            "retries": no_retry,
            "fallbacks": ["rescue"],
        },
        "rescue": {"deployments": [{"provider": "sim", "model": U["rescue"]}]},
        "first": {"deployments": [{"provider": "sim", "model": U["first"]}], "timeouts": {"first_token": 0.3}, "retries": no_retry},
        "idle": {"deployments": [{"provider": "sim", "model": U["idle"]}], "timeouts": {"idle": 0.3}, "retries": no_retry},
        "total": {
            "deployments": [{"provider": "sim", "model": U["total"]}],
            "timeouts": {"first_token": 30, "total": 0.4},
            "retries": no_retry,
        },
        "per-deployment": {
            # The model allows 30 s; the first deployment's own limit is 0.2 s. Were the override
            # ignored, the hang would eat the 5 s deadline and leave nothing for the retry.
            "deployments": [
                {"provider": "sim", "model": U["slowdep"], "weight": 1e6, "timeouts": {"first_token": 0.2}},
                {"provider": "sim", "model": U["okdep"], "weight": 1e-6},
            ],
            "timeouts": {"first_token": 30},
            "deadline_s": 5,
            "retries": {"max_retries": 1},
        },
    }
    providers = {"blackhole": {"type": "openai", "base_url": f"http://127.0.0.1:{blackhole}/v1"}}
    config = parse_config(
        base_config(sim.url, f"sqlite:///{directory}/hw.db", directory / "spill", models=models, providers=providers)
    )
    with GatewayThread(config) as gateway:
        yield gateway


def sdk(gw: GatewayThread) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key="unused", max_retries=0)


def chat(gw: GatewayThread, model: str, text: str = "hi") -> Any:
    return post_json(f"{gw.url}/v1/chat/completions", {"model": model, "messages": [{"role": "user", "content": text}]})


def test_connect_timeout_moves_on_to_the_fallback(gw: GatewayThread) -> None:
    reply = chat(gw, "connect")
    assert reply.status == 200 and reply.headers["x-headway-served-by"] == "fallback:rescue"
    record = gw.record(reply.headers["x-request-id"])
    first = record.attempts[0]
    assert (first.deployment, first.error_type) == ("blackhole/x", "timeout")


def test_first_token_timeout_on_a_hung_upstream(gw: GatewayThread, sim: Any) -> None:
    queue_fault(sim.url, "hang", U["first"])
    reply = chat(gw, "first")
    assert reply.status == 504 and reply.json()["error"]["code"] == "upstream_timeout"
    assert received(sim.url, U["first"]) == 1
    record = gw.record(reply.headers["x-request-id"])
    assert record.attempts[0].error_type == "timeout"


def test_first_token_timeout_on_a_hung_stream_is_an_error_before_any_byte(gw: GatewayThread, sim: Any) -> None:
    queue_fault(sim.url, "hang", U["first"])
    with pytest.raises(openai.APIStatusError) as caught:
        sdk(gw).chat.completions.create(model="first", messages=[{"role": "user", "content": "s"}], stream=True)
    assert caught.value.status_code == 504


def test_idle_timeout_between_stream_chunks_makes_the_sdk_raise(gw: GatewayThread) -> None:
    stream = sdk(gw).chat.completions.with_raw_response.create(
        model="idle", messages=[{"role": "user", "content": "slow tokens [sim:itl_ms=5000]"}], stream=True
    )
    received_chunks = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in stream.parse():
            received_chunks.append(chunk)
    assert received_chunks and "timeout" in str(caught.value.message)
    record = gw.record(stream.headers["x-request-id"])
    assert record.error_type == "stream_interrupted" and record.attempts[-1].error_type == "timeout"


def test_total_timeout_bounds_a_late_answer(gw: GatewayThread) -> None:
    reply = chat(gw, "total", "late [sim:latency_ms=5000]")
    assert reply.status == 504
    record = gw.record(reply.headers["x-request-id"])
    assert record.attempts[0].error_type == "timeout"


def test_a_deployments_own_timeout_overrides_the_models(gw: GatewayThread, sim: Any) -> None:
    queue_fault(sim.url, "hang", U["slowdep"])
    reply = chat(gw, "per-deployment")
    assert reply.status == 200 and reply.headers["x-headway-served-by"] == "retry"
    assert reply.headers["x-headway-deployment"] == f"sim/{U['okdep']}"
