"""Azure, Bedrock, Gemini and Vertex through the gateway, against the simulator's dialects.

The official OpenAI SDK talks to Headway; Headway talks to each cloud's wire format on the
simulator, which checks the credentials as the cloud would (api-key, Entra and Google
tokens that expire, SigV4 signatures). Every test reads Headway's own request record.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from headway.testing import GatewayThread
from tests.http import post_json, request

from .cloud_setup import NO_BREAKER, PRICE, ROUTES, UPSTREAM, Cloud, cloud, unique

CLOUD_MODELS = list(ROUTES)
FALLBACK_UPSTREAM = {name: unique(f"fb-{name}") for name in ("bedrock", "gemini", "azure", "vertex-claude")}
FAILOVER_MODELS: dict[str, Any] = {
    # Bedrock first; when it fails, Azure answers (and the other way round), across provider types.
    "bedrock-then-azure": {
        "deployments": [{"provider": "bedrock", "model": FALLBACK_UPSTREAM["bedrock"]}],
        "retries": {"max_retries": 0},
        "breaker": NO_BREAKER,
        "fallbacks": ["azure-backup"],
        "price": PRICE,
    },
    "azure-backup": {"deployments": [{"provider": "azure-key", "model": FALLBACK_UPSTREAM["azure"]}], "price": PRICE},
    "gemini-then-claude": {
        "deployments": [{"provider": "gemini", "model": FALLBACK_UPSTREAM["gemini"]}],
        "retries": {"max_retries": 0},
        "breaker": NO_BREAKER,
        "fallbacks": ["claude-backup"],
        "price": PRICE,
    },
    "claude-backup": {"deployments": [{"provider": "vertex", "model": FALLBACK_UPSTREAM["vertex-claude"]}], "price": PRICE},
    "azure-embed": {"kind": "embeddings", "deployments": [{"provider": "azure-key", "model": "dep-embed"}], "price": {"input": 0.02, "output": 0}},
    "bedrock-embed": {"kind": "embeddings", "deployments": [{"provider": "bedrock", "model": "amazon.titan-embed"}], "retries": {"max_retries": 0}},
}
WEATHER = {
    "type": "function",
    "function": {
        "name": "weather",
        "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
# Where each provider type's calls land on the simulator (the wire format it speaks).
PATHS = {
    "azure": f"/openai/deployments/{UPSTREAM['azure']}/chat/completions",
    "azure-entra": f"/openai/deployments/{UPSTREAM['azure-entra']}/chat/completions",
    "azure-v1": "/openai/v1/chat/completions",
    "bedrock": f"/model/{UPSTREAM['bedrock']}/converse",
    "gemini": f"/v1beta/models/{UPSTREAM['gemini']}:generateContent",
    "vertex": f"/v1/projects/sim-project/locations/us-east5/publishers/google/models/{UPSTREAM['vertex']}:generateContent",
    "vertex-claude": f"/v1/projects/sim-project/locations/us-east5/publishers/anthropic/models/{UPSTREAM['vertex-claude']}:rawPredict",
}


@pytest.fixture(scope="module")
def clouds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    with cloud(tmp_path_factory.mktemp("clouds"), FAILOVER_MODELS) as running:
        yield running


@pytest.fixture(scope="module")
def gw(clouds: Cloud) -> GatewayThread:
    return clouds.gateway


def sdk(gw: GatewayThread) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key="unused", max_retries=0)


def messages(text: str) -> list[dict[str, Any]]:
    return [{"role": "system", "content": "be brief"}, {"role": "user", "content": text}]


def sim_requests(clouds: Cloud, model: str) -> list[dict[str, Any]]:
    recent: list[dict[str, Any]] = request("GET", f"{clouds.sim_url}/sim/requests?limit=200").json()["requests"]
    return [r for r in recent if r["model"] == model]


def expected_cost(prompt: int, completion: int) -> float:
    return (prompt * PRICE["input"] + completion * PRICE["output"]) / 1e6


# --- chat, stream, usage and cost ------------------------------------------------------


@pytest.mark.parametrize("model", CLOUD_MODELS)
def test_chat(gw: GatewayThread, clouds: Cloud, model: str) -> None:
    raw = sdk(gw).chat.completions.with_raw_response.create(model=model, messages=messages("hello there"), max_tokens=40)
    completion = raw.parse()
    choice = completion.choices[0]
    assert choice.message.content is not None and choice.message.content.startswith("Simulated reply to: hello there")
    assert choice.finish_reason == "stop"
    usage = completion.usage
    assert usage is not None and usage.prompt_tokens == 4 and usage.completion_tokens == 16
    record = gw.record(raw.headers["x-request-id"])
    assert (record.input_tokens, record.output_tokens) == (4, 16)
    assert record.cost_usd == pytest.approx(expected_cost(4, 16))
    assert record.deployment == f"{ROUTES[model][0]}/{UPSTREAM[model]}"
    received = sim_requests(clouds, UPSTREAM[model])[-1]
    assert received["path"] == PATHS[model] and received["status"] == 200


def test_each_wire_format_carries_the_system_prompt_and_limits_its_own_way(gw: GatewayThread, clouds: Cloud) -> None:
    for model in CLOUD_MODELS:
        sdk(gw).chat.completions.create(model=model, messages=messages("shape check"), max_tokens=33, temperature=0.5, stop=["zzz"])
    body = {model: sim_requests(clouds, UPSTREAM[model])[-1]["body"] for model in CLOUD_MODELS}
    assert body["azure"]["messages"][0] == {"role": "system", "content": "be brief"} and body["azure"]["max_tokens"] == 33
    assert body["bedrock"]["system"] == [{"text": "be brief"}]
    assert body["bedrock"]["inferenceConfig"] == {"maxTokens": 33, "temperature": 0.5, "stopSequences": ["zzz"]}
    assert body["bedrock"]["messages"] == [{"role": "user", "content": [{"text": "shape check"}]}]
    for google in ("gemini", "vertex"):
        assert body[google]["systemInstruction"] == {"parts": [{"text": "be brief"}]}
        assert body[google]["generationConfig"] == {"maxOutputTokens": 33, "temperature": 0.5, "stopSequences": ["zzz"]}
        assert body[google]["contents"] == [{"role": "user", "parts": [{"text": "shape check"}]}]
    claude = body["vertex-claude"]
    assert claude["anthropic_version"] == "vertex-2023-10-16" and "model" not in claude
    assert claude["system"] == [{"type": "text", "text": "be brief"}] and claude["max_tokens"] == 33


@pytest.mark.parametrize("model", CLOUD_MODELS)
def test_stream(gw: GatewayThread, clouds: Cloud, model: str) -> None:
    stream = sdk(gw).chat.completions.with_raw_response.create(
        model=model, messages=messages("stream please"), stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith("Simulated reply to: stream please")
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].usage is not None and (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (4, 16)
    record = gw.record(stream.headers["x-request-id"])
    assert record.stream and record.status_code == 200
    assert record.cost_usd == pytest.approx(expected_cost(4, 16))
    received = sim_requests(clouds, UPSTREAM[model])[-1]
    assert received["stream"] is True and received["status"] == 200


def test_max_tokens_is_a_length_stop(gw: GatewayThread) -> None:
    for model in CLOUD_MODELS:
        completion = sdk(gw).chat.completions.create(model=model, messages=messages("cut me short"), max_tokens=5)
        assert completion.choices[0].finish_reason == "length", model
        assert completion.usage is not None and completion.usage.completion_tokens == 5, model


def test_azure_embeddings_use_the_deployment_url(gw: GatewayThread, clouds: Cloud) -> None:
    result = sdk(gw).embeddings.create(model="azure-embed", input=["red apples", "green pears"])
    assert len(result.data) == 2 and len(result.data[0].embedding) == 384
    received = sim_requests(clouds, "dep-embed")[-1]
    assert received["path"] == "/openai/deployments/dep-embed/embeddings" and received["status"] == 200


def test_embeddings_on_a_chat_only_cloud_adapter_are_a_clear_client_error(gw: GatewayThread) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        sdk(gw).embeddings.create(model="bedrock-embed", input="hello")
    assert "does not offer embeddings" in caught.value.message


# --- tools -----------------------------------------------------------------------------


@pytest.mark.parametrize("model", CLOUD_MODELS)
def test_tool_call_round_trip(gw: GatewayThread, clouds: Cloud, model: str) -> None:
    client = sdk(gw)
    first = client.chat.completions.create(
        model=model, messages=messages("weather in Oslo?"), tools=[WEATHER], tool_choice="required"
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls or []
    assert call.function.name == "weather" and call.id
    arguments = json.loads(call.function.arguments)
    assert isinstance(arguments["city"], str)
    history = [
        *messages("weather in Oslo?"),
        {"role": "assistant", "content": None, "tool_calls": [call.model_dump(exclude_none=True)]},
        {"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 21}'},
    ]
    second = client.chat.completions.create(model=model, messages=history, tools=[WEATHER])
    assert second.choices[0].finish_reason == "stop"
    assert (second.choices[0].message.content or "").startswith("Simulated reply to tool result:")
    assert "21" in (second.choices[0].message.content or "")


@pytest.mark.parametrize("model", CLOUD_MODELS)
def test_streamed_tool_call(gw: GatewayThread, model: str) -> None:
    stream = sdk(gw).chat.completions.create(
        model=model, messages=messages("weather in Oslo?"), tools=[WEATHER], tool_choice="required", stream=True
    )
    calls: dict[int, dict[str, str]] = {}
    finishes = []
    for chunk in stream:
        for choice in chunk.choices:
            finishes += [choice.finish_reason] if choice.finish_reason else []
            for delta in choice.delta.tool_calls or []:
                entry = calls.setdefault(delta.index, {"name": "", "arguments": "", "id": ""})
                entry["id"] = delta.id or entry["id"]
                entry["name"] += (delta.function.name or "") if delta.function else ""
                entry["arguments"] += (delta.function.arguments or "") if delta.function else ""
    assert finishes == ["tool_calls"]
    assert list(calls) == [0] and calls[0]["name"] == "weather" and calls[0]["id"]
    assert isinstance(json.loads(calls[0]["arguments"])["city"], str)


@pytest.mark.parametrize("model", CLOUD_MODELS)
def test_broken_tool_arguments_are_caught_and_repaired_by_the_gateway(gw: GatewayThread, clouds: Cloud, model: str) -> None:
    """Each adapter passes a model's broken arguments on raw, so the guards see them and re-ask."""
    before = len(sim_requests(clouds, UPSTREAM[model]))
    raw = sdk(gw).chat.completions.with_raw_response.create(
        model=model, messages=messages("weather? [sim:fault=bad_tool_json]"), tools=[WEATHER], tool_choice="required"
    )
    [call] = raw.parse().choices[0].message.tool_calls or []
    assert isinstance(json.loads(call.function.arguments)["city"], str)
    received = sim_requests(clouds, UPSTREAM[model])[before:]
    assert [r["fault"] for r in received] == ["bad_tool_json", None]  # the broken answer, then the re-ask


# --- faults ----------------------------------------------------------------------------

# fault → (what the attempt is recorded as, the upstream status when there is one)
PLAIN_FAULTS = {
    "429": ("rate_limit", 429),
    "500": ("server_error", 500),
    "503": ("server_error", 503),
    "malformed": ("bad_response", 200),
    "cut": ("bad_response", 200),
    "reset": ("connection", None),
    "hang": ("timeout", None),
}


@pytest.mark.parametrize("fault", list(PLAIN_FAULTS))
@pytest.mark.parametrize("model", CLOUD_MODELS)
def test_every_fault_is_typed_and_recorded(gw: GatewayThread, model: str, fault: str) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        sdk(gw).chat.completions.with_raw_response.create(model=model, messages=messages(f"hi [sim:fault={fault}]"))
    kind, status = PLAIN_FAULTS[fault]
    assert caught.value.status_code in (502, 504, 429)
    record = gw.record(caught.value.response.headers["x-request-id"])
    [attempt] = record.attempts
    assert attempt.error_type == kind, (model, fault, attempt)
    if status is not None and status != 200:
        assert attempt.status == status


@pytest.mark.parametrize("model", CLOUD_MODELS)
def test_stream_faults_before_and_after_the_first_chunk(gw: GatewayThread, model: str) -> None:
    client = sdk(gw)
    # Before the first chunk: an error the client sees as a status, recorded with its kind.
    for fault, kind in (("429", "rate_limit"), ("malformed", "bad_response"), ("slow_first_token", "timeout")):
        with pytest.raises(openai.APIStatusError) as caught:
            client.chat.completions.with_raw_response.create(
                model=model, messages=messages(f"hi [sim:fault={fault}]"), stream=True
            )
        record = gw.record(caught.value.response.headers["x-request-id"])
        assert record.attempts[-1].error_type == kind, (model, fault)
    # After content: the SDK raises mid-stream and the record says the stream was cut.
    stream = client.chat.completions.with_raw_response.create(
        model=model, messages=messages("long answer [sim:fault=cut]"), stream=True
    )
    received = []
    with pytest.raises(openai.APIError):
        for chunk in stream.parse():
            received.append(chunk)
    assert any(c.choices and c.choices[0].delta.content for c in received)
    record = gw.record(stream.headers["x-request-id"])
    assert record.attempts[-1].error_type == "stream_cut"


@pytest.mark.parametrize("model", CLOUD_MODELS)
def test_retry_after_of_a_429_reaches_the_client(gw: GatewayThread, model: str) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        sdk(gw).chat.completions.create(model=model, messages=messages("hi [sim:fault=429]"))
    assert caught.value.response.headers["retry-after"] == "7"  # the simulated cloud's Retry-After


# --- credentials -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "model", ["azure-badkey", "azure-badsecret", "bedrock-badkey", "gemini-badkey", "vertex-stranger"]
)
def test_wrong_credentials_are_auth_failures(gw: GatewayThread, model: str) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        sdk(gw).chat.completions.with_raw_response.create(model=model, messages=messages("let me in"))
    record = gw.record(caught.value.response.headers["x-request-id"])
    assert [a.error_type for a in record.attempts] == ["auth"]


def test_bedrock_model_ids_reach_the_service_intact_and_signed(clouds: Cloud, gw: GatewayThread) -> None:
    sdk(gw).chat.completions.create(model="bedrock", messages=messages("signed?"))
    received = sim_requests(clouds, UPSTREAM["bedrock"])[-1]
    assert ":" in received["model"]  # sent as %3A, signed as %253A, verified by the simulator
    assert received["headers"]["x-amz-date"] and received["headers"]["authorization"].startswith("****")
    assert received["status"] == 200


def test_entra_and_google_tokens_are_fetched_once_and_reused(gw: GatewayThread, clouds: Cloud) -> None:
    before = request("GET", f"{clouds.sim_url}/sim/stats").json()["by_endpoint"]
    for _ in range(3):
        sdk(gw).chat.completions.create(model="azure-entra", messages=messages("again"))
        sdk(gw).chat.completions.create(model="vertex", messages=messages("again"))
    after = request("GET", f"{clouds.sim_url}/sim/stats").json()["by_endpoint"]
    assert after.get("token.entra", 0) == before.get("token.entra", 0)
    assert after.get("token.google", 0) == before.get("token.google", 0)
    assert after["token.entra"] >= 1 and after["token.google"] >= 1


def test_tokens_are_refreshed_before_they_expire(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A cloud whose tokens live 4 s: the second call, 4 s later, must fetch a new token first.

    Not shorter: a token is refreshed a fifth of its life early (0.8 s here), and that is both the room a
    call has to reach the cloud before its token dies and, with the rest (3.2 s), the time within which
    Vertex Claude must reuse the token Gemini fetched; one stall of a busy host must fit in either.
    """
    with cloud(tmp_path_factory.mktemp("short-tokens")) as short:
        scenario = short.scenario.model_copy(
            update={"cloud_auth": short.scenario.cloud_auth.model_copy(update={"token_ttl_s": 4.0})}
        )
        reply = request(
            "PUT", f"{short.sim_url}/sim/scenario", json.dumps(scenario.model_dump(mode="json")).encode(), {"content-type": "application/json"}
        )
        assert reply.status == 200, reply.body
        client = sdk(short.gateway)
        for model in ("azure-entra", "vertex", "vertex-claude"):
            client.chat.completions.create(model=model, messages=messages("first"))
        time.sleep(4.0)  # every token issued above has expired now
        for model in ("azure-entra", "vertex", "vertex-claude"):
            completion = client.chat.completions.create(model=model, messages=messages("second"))
            assert completion.choices[0].message.content
        stats = request("GET", f"{short.sim_url}/sim/stats").json()
        assert stats["by_endpoint"]["token.entra"] == 2
        assert stats["by_endpoint"]["token.google"] == 2  # one credential serves Gemini and Claude on Vertex
        assert stats["by_status"].get("401", 0) == 0  # no call ever left with an expired token


# --- failover between provider types ---------------------------------------------------


def test_bedrock_failing_falls_back_to_azure(gw: GatewayThread, clouds: Cloud) -> None:
    reply = post_json(f"{clouds.sim_url}/sim/faults", {"fault": "500", "model": FALLBACK_UPSTREAM["bedrock"], "count": 1})
    assert reply.status == 200
    raw = sdk(gw).chat.completions.with_raw_response.create(model="bedrock-then-azure", messages=messages("fail over"))
    assert raw.headers["x-headway-served-by"] == "fallback:azure-backup"
    assert (raw.parse().choices[0].message.content or "").startswith("Simulated reply to: fail over")
    record = gw.record(raw.headers["x-request-id"])
    assert [(a.deployment, a.outcome, a.error_type) for a in record.attempts] == [
        (f"bedrock/{FALLBACK_UPSTREAM['bedrock']}", "error", "server_error"),
        (f"azure-key/{FALLBACK_UPSTREAM['azure']}", "ok", None),
    ]


def test_a_corrupt_bedrock_stream_falls_back_before_the_first_chunk(gw: GatewayThread, clouds: Cloud) -> None:
    # The malformed fault sends an event-stream frame with a wrong checksum before any content.
    post_json(f"{clouds.sim_url}/sim/faults", {"fault": "malformed", "model": FALLBACK_UPSTREAM["bedrock"], "count": 1})
    stream = sdk(gw).chat.completions.with_raw_response.create(
        model="bedrock-then-azure", messages=messages("stream over"), stream=True
    )
    assert stream.headers["x-headway-served-by"] == "fallback:azure-backup"
    text = "".join(c.choices[0].delta.content or "" for c in stream.parse() if c.choices)
    assert text.startswith("Simulated reply to: stream over")
    record = gw.record(stream.headers["x-request-id"])
    assert [a.error_type for a in record.attempts] == ["bad_response", None]


def test_gemini_rate_limited_stream_falls_back_to_claude_on_vertex(gw: GatewayThread, clouds: Cloud) -> None:
    post_json(f"{clouds.sim_url}/sim/faults", {"fault": "429", "model": FALLBACK_UPSTREAM["gemini"], "count": 1})
    stream = sdk(gw).chat.completions.with_raw_response.create(
        model="gemini-then-claude", messages=messages("busy?"), stream=True, stream_options={"include_usage": True}
    )
    assert stream.headers["x-headway-served-by"] == "fallback:claude-backup"
    chunks = list(stream.parse())
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).startswith("Simulated reply to: busy?")
    record = gw.record(stream.headers["x-request-id"])
    assert [(a.outcome, a.status, a.error_type) for a in record.attempts] == [("error", 429, "rate_limit"), ("ok", 200, None)]
    assert record.cost_usd == pytest.approx(expected_cost(4, 16))
