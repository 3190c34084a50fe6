"""Every fault kind, as the client sees it, and how a fault is chosen for a request."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
import anthropic
import jsonschema
import openai
import pytest

from headway.sim import Scenario, SimServer
from headway.sim import playback as playback_module

TOOL: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"answer": {"type": "string"}, "score": {"type": "integer"}},
    "required": ["answer", "score"],
}


def user(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


def chat(text: str = "hi", model: str = "m", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": user(text), **extra}


def fault(kind: str) -> dict[str, str]:
    return {"x-sim-fault": kind}


async def status_of(http: aiohttp.ClientSession, url: str, body: dict[str, Any], **headers: str) -> int:
    async with http.post(f"{url}/v1/chat/completions", json=body, headers=headers) as response:
        await response.read()
        return response.status


async def stats(http: aiohttp.ClientSession, sim: SimServer) -> dict[str, Any]:
    async with http.get(f"{sim.url}/sim/stats") as response:
        result: dict[str, Any] = await response.json()
        return result


# --- each fault kind ------------------------------------------------------------------


async def test_429_carries_retry_after(start_sim: Any) -> None:
    sim = await start_sim(faults={"retry_after_s": 2})
    async with openai.AsyncOpenAI(base_url=f"{sim.url}/v1", api_key="k", max_retries=0) as client:
        with pytest.raises(openai.RateLimitError) as caught:
            await client.chat.completions.create(**chat(), extra_headers=fault("429"))
    assert caught.value.status_code == 429
    assert caught.value.response.headers["retry-after"] == "2"
    body: Any = caught.value.body
    assert body["code"] == "rate_limit_exceeded"


async def test_429_in_anthropic_dialect(claude: anthropic.AsyncAnthropic) -> None:
    with pytest.raises(anthropic.RateLimitError) as caught:
        await claude.messages.create(model="c", max_tokens=5, messages=user("x"), extra_headers=fault("429"))
    assert caught.value.response.headers["retry-after"] == "1"
    body: Any = caught.value.body
    assert body["error"]["type"] == "rate_limit_error"


@pytest.mark.parametrize("kind", ["500", "503"])
async def test_server_errors(oai: openai.AsyncOpenAI, kind: str) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        await oai.chat.completions.create(**chat(), extra_headers=fault(kind))
    assert caught.value.status_code == int(kind)
    body: Any = caught.value.body
    assert body["type"] == "server_error"


async def test_hang_until_the_client_gives_up(sim: SimServer, http: aiohttp.ClientSession) -> None:
    async with openai.AsyncOpenAI(
        base_url=f"{sim.url}/v1", api_key="k", max_retries=0, timeout=0.3
    ) as client:
        with pytest.raises(openai.APITimeoutError):
            await client.chat.completions.create(**chat(), extra_headers=fault("hang"))
    assert (await stats(http, sim))["by_fault"] == {"hang": 1}
    for _ in range(500):  # the client left: its handler is cancelled, not kept for hang_max_s
        if (await stats(http, sim))["in_flight"] == 0:
            break
        await asyncio.sleep(0.01)
    assert (await stats(http, sim))["by_status"] == {"client_closed": 1}


async def test_hang_is_bounded_and_stop_wakes_it(start_sim: Any) -> None:
    bounded = await start_sim(faults={"hang_max_s": 0.2})
    async with openai.AsyncOpenAI(
        base_url=f"{bounded.url}/v1", api_key="k", max_retries=0, timeout=30
    ) as client:
        with pytest.raises(openai.APIConnectionError) as caught:
            await client.chat.completions.create(**chat(), extra_headers=fault("hang"))
    assert not isinstance(caught.value, openai.APITimeoutError)  # the server hung up, not the client

    forever = await start_sim()
    async with aiohttp.ClientSession() as http:
        pending = asyncio.create_task(status_of(http, forever.url, chat(), **fault("hang")))
        for _ in range(500):  # until the server holds the hung request
            if (await stats(http, forever))["in_flight"]:
                break
            await asyncio.sleep(0.01)
        await forever.stop()  # must return although a request is hung for 300 s
        with pytest.raises(aiohttp.ClientConnectionError):
            await pending


async def test_reset_drops_the_connection(
    oai: openai.AsyncOpenAI, sim: SimServer, http: aiohttp.ClientSession
) -> None:
    with pytest.raises(aiohttp.ClientConnectionError):
        await status_of(http, sim.url, chat(), **fault("reset"))
    with pytest.raises(openai.APIConnectionError) as caught:
        await oai.chat.completions.create(**chat(), extra_headers=fault("reset"))
    assert not isinstance(caught.value, openai.APITimeoutError)
    assert (await stats(http, sim))["by_status"]["aborted"] == 2


async def test_malformed_body_and_stream_line(
    oai: openai.AsyncOpenAI, sim: SimServer, http: aiohttp.ClientSession
) -> None:
    async with http.post(
        f"{sim.url}/v1/chat/completions", json=chat(), headers=fault("malformed")
    ) as response:
        assert response.status == 200
        raw = await response.text()
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw)
    with pytest.raises(json.JSONDecodeError):
        await oai.chat.completions.create(**chat(), extra_headers=fault("malformed"))
    stream = await oai.chat.completions.create(**chat(), stream=True, extra_headers=fault("malformed"))
    with pytest.raises(json.JSONDecodeError):
        async for _ in stream:
            pass


async def test_cut_stream_ends_without_done(
    oai: openai.AsyncOpenAI, sim: SimServer, http: aiohttp.ClientSession
) -> None:
    received: list[bytes] = []
    with pytest.raises(aiohttp.ClientPayloadError):
        async with http.post(
            f"{sim.url}/v1/chat/completions", json=chat(stream=True), headers=fault("cut")
        ) as response:
            assert response.status == 200
            async for line in response.content:
                received.append(line)
    data = [line[6:].strip() for line in received if line.startswith(b"data: ")]
    assert b"[DONE]" not in data
    contents = [json.loads(item)["choices"][0]["delta"].get("content") for item in data]
    assert contents[1:] == ["Simulated", " reply"]  # role chunk, then cut_after_chunks=2 tokens

    seen: list[Any] = []
    stream = await oai.chat.completions.create(**chat(), stream=True, extra_headers=fault("cut"))
    with pytest.raises(openai.APIConnectionError):
        async for chunk in stream:
            seen.append(chunk)
    assert seen and all(chunk.choices[0].finish_reason is None for chunk in seen)


async def test_cut_anthropic_stream_has_no_message_stop(sim: SimServer, http: aiohttp.ClientSession) -> None:
    body = {"model": "c", "max_tokens": 50, "stream": True, "messages": user("x")}
    received = b""
    with pytest.raises(aiohttp.ClientPayloadError):
        async with http.post(f"{sim.url}/v1/messages", json=body, headers=fault("cut")) as response:
            async for chunk in response.content.iter_any():
                received += chunk
    assert b"event: message_start" in received
    assert b"event: content_block_delta" in received
    assert b"message_stop" not in received


async def test_cut_non_stream_body_is_truncated(
    oai: openai.AsyncOpenAI, sim: SimServer, http: aiohttp.ClientSession
) -> None:
    with pytest.raises(aiohttp.ClientPayloadError):
        async with http.post(f"{sim.url}/v1/chat/completions", json=chat(), headers=fault("cut")) as response:
            assert response.status == 200
            await response.read()
    with pytest.raises(openai.APIConnectionError):
        await oai.chat.completions.create(**chat(), extra_headers=fault("cut"))


async def test_bad_tool_json(oai: openai.AsyncOpenAI, sim: SimServer, http: aiohttp.ClientSession) -> None:
    reply = await oai.chat.completions.create(**chat(tools=TOOL), extra_headers=fault("bad_tool_json"))
    calls = reply.choices[0].message.tool_calls
    assert calls is not None and calls[0].function.name == "get_weather"
    with pytest.raises(json.JSONDecodeError):
        json.loads(calls[0].function.arguments)
    stream = await oai.chat.completions.create(
        **chat(tools=TOOL), stream=True, extra_headers=fault("bad_tool_json")
    )
    arguments = "".join(
        [
            call.function.arguments or ""
            async for chunk in stream
            for call in chunk.choices[0].delta.tool_calls or ()
            if call.function
        ]
    )
    with pytest.raises(json.JSONDecodeError):
        json.loads(arguments)
    # Anthropic: the tool_use input is no longer a JSON object.
    body = {
        "model": "c",
        "max_tokens": 50,
        "messages": user("x"),
        "tools": [{"name": "t", "input_schema": {}}],
    }
    async with http.post(f"{sim.url}/v1/messages", json=body, headers=fault("bad_tool_json")) as response:
        message = await response.json()
    assert not isinstance(message["content"][0]["input"], dict)


async def test_bad_json_schema(oai: openai.AsyncOpenAI, sim: SimServer, http: aiohttp.ClientSession) -> None:
    schema_format = {"type": "json_schema", "json_schema": {"name": "a", "schema": SCHEMA}}
    reply = await oai.chat.completions.create(
        **chat(response_format=schema_format), extra_headers=fault("bad_json_schema")
    )
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(json.loads(reply.choices[0].message.content or ""), SCHEMA)
    broken = await oai.chat.completions.create(
        **chat(response_format={"type": "json_object"}), extra_headers=fault("bad_json_schema")
    )
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken.choices[0].message.content or "")
    # Without a response_format there is nothing to break: a clean answer, no fault counted.
    plain = await oai.chat.completions.create(**chat(), extra_headers=fault("bad_json_schema"))
    assert (plain.choices[0].message.content or "").startswith("Simulated reply")
    assert (await stats(http, sim))["by_fault"] == {"bad_json_schema": 2}


async def test_slow_first_token_delays_the_first_content(start_sim: Any) -> None:
    sim = await start_sim(faults={"slow_first_token_ms": 250})
    async with openai.AsyncOpenAI(base_url=f"{sim.url}/v1", api_key="k", max_retries=0) as client:
        started = time.monotonic()
        stream = await client.chat.completions.create(
            **chat(), stream=True, extra_headers=fault("slow_first_token")
        )
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                break
        assert time.monotonic() - started >= 0.25
        await stream.close()


# --- choosing the fault -----------------------------------------------------------------


async def test_header_beats_directive_and_none_forces_clean(
    sim: SimServer, http: aiohttp.ClientSession
) -> None:
    directive = chat("please fail [sim:fault=429]")
    assert await status_of(http, sim.url, directive) == 429
    assert await status_of(http, sim.url, directive, **fault("500")) == 500
    assert await status_of(http, sim.url, directive, **fault("none")) == 200


async def test_directive_travels_in_the_last_user_message(claude: anthropic.AsyncAnthropic) -> None:
    with pytest.raises(anthropic.InternalServerError) as caught:
        await claude.messages.create(model="c", max_tokens=5, messages=user("ok [sim:fault=500]"))
    assert caught.value.status_code == 500
    earlier: list[Any] = [
        {"role": "user", "content": "first [sim:fault=500]"},
        {"role": "assistant", "content": "sure"},
        {"role": "user", "content": "second, no directive"},
    ]
    message = await claude.messages.create(model="c", max_tokens=5, messages=earlier)
    assert message.stop_reason == "max_tokens"


async def test_directive_beats_queue_and_queue_counts(sim: SimServer, http: aiohttp.ClientSession) -> None:
    async with http.post(
        f"{sim.url}/sim/faults", json={"fault": "503", "model": "a", "count": 2}
    ) as response:
        assert response.status == 200
    assert await status_of(http, sim.url, chat("x [sim:fault=429]", model="a")) == 429  # queue untouched
    assert await status_of(http, sim.url, chat(model="b")) == 200  # other model
    statuses = [await status_of(http, sim.url, chat(model="a")) for _ in range(3)]
    assert statuses == [503, 503, 200]


async def test_queue_beats_rates(start_sim: Any, http: aiohttp.ClientSession) -> None:
    sim = await start_sim(faults={"rates": {"500": 1.0}})
    async with http.post(f"{sim.url}/sim/faults", json={"fault": "429", "model": None}) as response:
        assert (await response.json())["queued"] == [{"fault": "429", "model": None, "count": 1}]
    assert [await status_of(http, sim.url, chat()) for _ in range(2)] == [429, 500]


async def test_unknown_fault_is_rejected(sim: SimServer, http: aiohttp.ClientSession) -> None:
    async with http.post(f"{sim.url}/v1/chat/completions", json=chat(), headers=fault("explode")) as response:
        assert response.status == 400
        assert "explode" in (await response.json())["error"]["message"]
    async with http.post(f"{sim.url}/sim/faults", json={"fault": "explode"}) as response:
        assert response.status == 400


async def test_seeded_rates_are_reproducible(start_sim: Any, http: aiohttp.ClientSession) -> None:
    scenario = Scenario.model_validate({"seed": 7, "faults": {"rates": {"500": 0.3, "429": 0.2}}})

    async def run(sim: SimServer) -> list[int]:
        return [await status_of(http, sim.url, chat(f"q{i}")) for i in range(30)]

    first = await start_sim(scenario)
    sequence = await run(first)
    assert set(sequence) == {200, 429, 500}
    async with http.post(f"{first.url}/sim/reset") as response:
        assert response.status == 200
    assert await run(first) == sequence
    assert await run(await start_sim(scenario)) == sequence
    assert await run(await start_sim(scenario.model_copy(update={"seed": 8}))) != sequence


async def test_per_model_rates_override_global(start_sim: Any, http: aiohttp.ClientSession) -> None:
    sim = await start_sim(faults={"rates": {"500": 1.0}}, models={"safe": {"faults": {"rates": {}}}})
    assert await status_of(http, sim.url, chat(model="safe")) == 200
    assert await status_of(http, sim.url, chat(model="other")) == 500


# --- latency dials ----------------------------------------------------------------------


async def elapsed(http: aiohttp.ClientSession, sim: SimServer, body: dict[str, Any], **headers: str) -> float:
    started = time.monotonic()
    assert await status_of(http, sim.url, body, **headers) == 200
    return time.monotonic() - started


async def test_latency_dials_and_overrides(start_sim: Any, http: aiohttp.ClientSession) -> None:
    sim = await start_sim(
        models={
            "slow": {"latency_ms": 150},
            "spread": {"latency_ms": {"dist": "uniform", "low": 100, "high": 120}},
            "typing": {"itl_ms": 20, "output_tokens": 8},
        }
    )
    assert await elapsed(http, sim, chat(model="slow")) >= 0.15
    assert await elapsed(http, sim, chat(model="spread")) >= 0.1
    assert await elapsed(http, sim, chat(model="typing", stream=True)) >= 7 * 0.02
    assert await elapsed(http, sim, chat(model="fast"), **{"x-sim-latency-ms": "100"}) >= 0.1
    assert await elapsed(http, sim, chat("x [sim:latency_ms=100]", model="fast")) >= 0.1


async def test_zero_latency_never_sleeps(
    monkeypatch: pytest.MonkeyPatch, sim: SimServer, http: aiohttp.ClientSession
) -> None:
    slept: list[float] = []

    async def record(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(playback_module, "sleep", record)
    for body in (chat(), chat(stream=True), chat(tools=TOOL, stream=True)):
        assert await status_of(http, sim.url, body) == 200
    assert slept == []
    assert await status_of(http, sim.url, chat(), **{"x-sim-latency-ms": "5"}) == 200
    assert slept == [0.005]
