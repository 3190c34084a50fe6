"""Each failure path, end to end: the official OpenAI SDK → Headway → the simulator's faults.

Every model here sends its own upstream model names, so the simulator's per-model
counters (``GET /sim/stats``) tell exactly which deployment got how much traffic.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from headway.config.loader import parse_config
from headway.routing.breaker import InProcessBreakers
from headway.testing import GatewayThread
from tests.conftest import base_config
from tests.http import post_json, request

from .simctl import queue_fault, received, unique

FAST_RETRY = {"max_retries": 1, "backoff_initial_ms": 1}
NO_RETRY = {"max_retries": 0}
U = {name: unique(name) for name in (
    "retry", "brk-bad", "brk-good", "fb-main", "fb-backup", "cause-main", "cause-t", "cause-e", "deg", "degm",
    "cheap", "fails-a", "fails-b", "stream", "sfb-main", "sfb-backup", "contract", "hedge-slow", "hedge-fast",
)}  # fmt: skip


def dep(name: str, **extra: Any) -> dict[str, Any]:
    return {"provider": "sim", "model": U[name], **extra}


MODELS: dict[str, Any] = {
    "retry": {"deployments": [dep("retry")], "retries": {"max_retries": 2, "backoff_initial_ms": 1}},
    "breaker": {
        # The weights make the failing deployment the first pick, every time.
        "deployments": [dep("brk-bad", weight=1e6), dep("brk-good", weight=1e-6)],
        "breaker": {"min_requests": 3, "failure_ratio": 0.5, "cooldown_s": 60},
        "retries": FAST_RETRY,
    },
    "fallback": {"deployments": [dep("fb-main")], "retries": FAST_RETRY, "fallbacks": ["fallback-b"]},
    "fallback-b": {"deployments": [dep("fb-backup")]},
    "cause": {
        "deployments": [dep("cause-main")],
        "retries": NO_RETRY,
        "timeouts": {"first_token": 0.3},
        "fallbacks": {"timeout": ["cause-t"], "error": ["cause-e"]},
    },
    "cause-t": {"deployments": [dep("cause-t")]},
    "cause-e": {"deployments": [dep("cause-e")]},
    "degraded": {"deployments": [dep("deg")], "retries": NO_RETRY, "degraded": {"message": "We are busy; try again soon."}},
    "degraded-model": {"deployments": [dep("degm")], "retries": NO_RETRY, "degraded": {"model": "cheap"}},
    "cheap": {"deployments": [dep("cheap")]},
    "fails": {"deployments": [dep("fails-a"), dep("fails-b")], "retries": FAST_RETRY},
    "stream": {"deployments": [dep("stream")], "retries": NO_RETRY},
    "stream-fb": {"deployments": [dep("sfb-main")], "retries": NO_RETRY, "fallbacks": ["stream-fb-b"]},
    "stream-fb-b": {"deployments": [dep("sfb-backup")]},
    "contract": {"deployments": [dep("contract")], "retries": NO_RETRY, "contract": {"max_repairs": 1}},
    "hedge": {
        "deployments": [dep("hedge-slow", weight=1e6), dep("hedge-fast", weight=1e-6)],
        "hedge": {"after_ms": 100},
    },
}


@pytest.fixture(scope="module")
def gw(sim: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayThread]:
    directory = tmp_path_factory.mktemp("resilience")
    config = parse_config(base_config(sim.url, f"sqlite:///{directory}/hw.db", directory / "spill", models=MODELS))
    with GatewayThread(config) as gateway:
        yield gateway


def sdk(gw: GatewayThread) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key="unused", max_retries=0)


def ask(gw: GatewayThread, model: str, text: str = "hello", **kwargs: Any) -> Any:
    return sdk(gw).chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": text}], **kwargs
    )


def deployments(gw: GatewayThread, model: str) -> dict[str, dict[str, Any]]:
    body = request("GET", f"{gw.url}/admin/deployments?model={model}").json()
    return {d["model"]: d for d in body["data"][0]["deployments"]}


def test_retried_then_succeeded(gw: GatewayThread, sim: Any) -> None:
    queue_fault(sim.url, "500", U["retry"], count=1)
    raw = ask(gw, "retry")
    assert raw.headers["x-headway-served-by"] == "retry"
    assert received(sim.url, U["retry"]) == 2
    record = gw.record(raw.headers["x-request-id"])
    assert record.served_by == "retry"
    assert [(a.outcome, a.status, a.error_type) for a in record.attempts] == [("error", 500, "server_error"), ("ok", 200, None)]


def test_breaker_opens_then_lets_one_trial_through_after_the_cooldown(gw: GatewayThread, sim: Any) -> None:
    bad, good = U["brk-bad"], U["brk-good"]
    queue_fault(sim.url, "500", bad, count=3)  # exactly what it takes to open: 3 of 3 failed
    for _ in range(3):
        assert ask(gw, "breaker").headers["x-headway-served-by"] == "retry"
    state = deployments(gw, "breaker")[bad]
    assert state["state"] == "open" and state["failure_ratio"] == 1.0
    assert state["opened_at"] is not None and state["next_trial_at"] > state["opened_at"]
    assert received(sim.url, bad) == 3
    for _ in range(5):
        raw = ask(gw, "breaker")
        assert raw.headers["x-headway-served-by"] == "primary"
        assert raw.headers["x-headway-deployment"] == f"sim/{good}"
    assert received(sim.url, bad) == 3  # open: skipped without a single call
    record = gw.record(raw.headers["x-request-id"])
    assert [(a.deployment, a.outcome, a.error_type) for a in record.attempts] == [
        (f"sim/{bad}", "skipped", "circuit_open"),
        (f"sim/{good}", "ok", None),
    ]
    breakers = gw.runtime.executor.breakers
    assert isinstance(breakers, InProcessBreakers)
    breakers.clock = lambda: time.monotonic() + 61  # the cool-down has passed
    assert deployments(gw, "breaker")[bad]["state"] == "half_open"
    raw = ask(gw, "breaker")  # the trial: the deployment recovered (its queued faults are used up)
    assert raw.headers["x-headway-deployment"] == f"sim/{bad}"
    assert received(sim.url, bad) == 4
    assert deployments(gw, "breaker")[bad]["state"] == "closed"


def test_fallback_to_another_model(gw: GatewayThread, sim: Any) -> None:
    queue_fault(sim.url, "503", U["fb-main"], count=2)
    raw = ask(gw, "fallback")
    assert raw.headers["x-headway-served-by"] == "fallback:fallback-b"
    assert raw.parse().model == U["fb-backup"]
    assert (received(sim.url, U["fb-main"]), received(sim.url, U["fb-backup"])) == (2, 1)
    record = gw.record(raw.headers["x-request-id"])
    assert record.served_by == "fallback:fallback-b" and record.deployment == f"sim/{U['fb-backup']}"
    assert [a.outcome for a in record.attempts] == ["error", "error", "ok"]


def test_fallback_follows_the_cause(gw: GatewayThread, sim: Any) -> None:
    queue_fault(sim.url, "hang", U["cause-main"], count=1)
    assert ask(gw, "cause").headers["x-headway-served-by"] == "fallback:cause-t"
    queue_fault(sim.url, "500", U["cause-main"], count=1)
    assert ask(gw, "cause").headers["x-headway-served-by"] == "fallback:cause-e"
    assert (received(sim.url, U["cause-t"]), received(sim.url, U["cause-e"])) == (1, 1)


def test_degraded_message_is_a_normal_completion(gw: GatewayThread, sim: Any) -> None:
    queue_fault(sim.url, "500", U["deg"], count=1)
    raw = ask(gw, "degraded")
    completion = raw.parse()
    assert raw.status_code == 200 and raw.headers["x-headway-served-by"] == "degraded"
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.content == "We are busy; try again soon."
    record = gw.record(raw.headers["x-request-id"])
    assert record.served_by == "degraded" and record.cost_usd == 0.0


def test_degraded_model_answers_when_the_primary_cannot(gw: GatewayThread, sim: Any) -> None:
    queue_fault(sim.url, "reset", U["degm"], count=1)
    raw = ask(gw, "degraded-model")
    assert raw.headers["x-headway-served-by"] == "degraded"
    assert raw.parse().model == U["cheap"]
    assert received(sim.url, U["cheap"]) == 1


def test_clear_error_with_request_id_and_attempts(gw: GatewayThread, sim: Any) -> None:
    queue_fault(sim.url, "500", U["fails-a"], count=5)
    queue_fault(sim.url, "500", U["fails-b"], count=5)
    reply = post_json(
        f"{gw.url}/v1/chat/completions",
        {"model": "fails", "messages": [{"role": "user", "content": "x"}]},
        {"x-request-id": "req-clear-error-1"},
    )
    assert reply.status == 502
    error = reply.json()["error"]
    assert error["request_id"] == "req-clear-error-1" and "req-clear-error-1" in error["message"]
    assert error["code"] == "upstream_failed"
    assert sorted(a["deployment"] for a in error["attempts"]) == sorted([f"sim/{U['fails-a']}", f"sim/{U['fails-b']}"])
    assert {a["status"] for a in error["attempts"]} == {500}
    record = gw.record("req-clear-error-1")
    assert record.status_code == 502 and len(record.attempts) == 2


def test_stream_cut_after_the_first_byte_makes_the_sdk_raise(gw: GatewayThread, sim: Any) -> None:
    stream = sdk(gw).chat.completions.with_raw_response.create(
        model="stream", messages=[{"role": "user", "content": "tell me [sim:fault=cut]"}], stream=True
    )
    chunks: list[Any] = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in stream.parse():
            chunks.append(chunk)
    assert chunks, "the cut came after some chunks reached the client"
    assert "stream_cut" in str(caught.value.message)
    record = gw.record(stream.headers["x-request-id"])
    assert record.status_code == 502 and record.error_type == "stream_interrupted"
    assert record.attempts[-1].error_type == "stream_cut"


def test_stream_failure_before_the_first_byte_falls_back_transparently(gw: GatewayThread, sim: Any) -> None:
    queue_fault(sim.url, "429", U["sfb-main"], count=1)
    stream = sdk(gw).chat.completions.with_raw_response.create(
        model="stream-fb", messages=[{"role": "user", "content": "stream please"}], stream=True
    )
    assert stream.headers["x-headway-served-by"] == "fallback:stream-fb-b"
    text = "".join(c.choices[0].delta.content or "" for c in stream.parse() if c.choices)
    assert "stream please" in text
    assert received(sim.url, U["sfb-backup"]) == 1


def test_output_repaired_by_a_re_ask(gw: GatewayThread, sim: Any) -> None:
    queue_fault(sim.url, "bad_json_schema", U["contract"], count=1)
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    raw = ask(
        gw,
        "contract",
        "where?",
        response_format={"type": "json_schema", "json_schema": {"name": "place", "schema": schema}},
    )
    assert isinstance(json.loads(raw.parse().choices[0].message.content)["city"], str)
    assert received(sim.url, U["contract"]) == 2
    record = gw.record(raw.headers["x-request-id"])
    assert record.quality["contract"] == "repaired" and record.quality["contract_repairs"] == 1


def test_tool_arguments_repaired_by_a_re_ask(gw: GatewayThread, sim: Any) -> None:
    queue_fault(sim.url, "bad_tool_json", U["contract"], count=1)
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}}]
    raw = ask(gw, "contract", "look it up", tools=tools)
    call = raw.parse().choices[0].message.tool_calls[0]
    assert isinstance(json.loads(call.function.arguments)["q"], str)
    record = gw.record(raw.headers["x-request-id"])
    assert record.quality["contract"] == "repaired"


def test_output_contract_failure_is_a_clear_422(gw: GatewayThread, sim: Any) -> None:
    queue_fault(sim.url, "bad_json_schema", U["contract"], count=2)
    reply = post_json(
        f"{gw.url}/v1/chat/completions",
        {"model": "contract", "messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_object"}},
    )
    assert reply.status == 422
    error = reply.json()["error"]
    assert error["code"] == "output_contract_failed" and "not valid JSON" in error["message"]
    record = gw.record(reply.headers["x-request-id"])
    assert record.quality["contract"] == "failed" and record.quality["contract_repairs"] == 1


def test_hedged_stream_wins_on_a_slow_first_token(gw: GatewayThread, sim: Any) -> None:
    queue_fault(sim.url, "slow_first_token", U["hedge-slow"], count=1)
    stream = sdk(gw).chat.completions.with_raw_response.create(
        model="hedge", messages=[{"role": "user", "content": "race"}], stream=True
    )
    assert stream.headers["x-headway-served-by"] == "hedge"
    assert stream.headers["x-headway-deployment"] == f"sim/{U['hedge-fast']}"
    assert "race" in "".join(c.choices[0].delta.content or "" for c in stream.parse() if c.choices)
    record = gw.record(stream.headers["x-request-id"])
    assert sorted((a.deployment, a.outcome, a.error_type) for a in record.attempts) == sorted(
        [(f"sim/{U['hedge-slow']}", "skipped", "hedge_cancelled"), (f"sim/{U['hedge-fast']}", "ok", None)]
    )
    assert (received(sim.url, U["hedge-slow"]), received(sim.url, U["hedge-fast"])) == (1, 1)


def test_admin_deployments_shows_every_route(gw: GatewayThread) -> None:
    body = request("GET", f"{gw.url}/admin/deployments").json()
    routes = {entry["model"]: entry for entry in body["data"]}
    assert set(MODELS) <= set(routes)
    hedge = routes["hedge"]
    assert hedge["hedge_after_ms"] == 100 and hedge["balancing"] == "weighted"
    fields = set(hedge["deployments"][0])
    assert {"state", "failure_ratio", "in_flight", "ewma_latency_ms", "opened_at", "next_trial_at"} <= fields
    assert request("GET", f"{gw.url}/admin/deployments?model=nope").status == 404
