"""The control plane, API-key checks, and the bundled example scenario."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import openai
import pytest

from headway.sim import Scenario, SimServer


def user(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


async def get_json(http: aiohttp.ClientSession, url: str) -> Any:
    async with http.get(url) as response:
        assert response.status == 200
        return await response.json()


async def test_stats_count_endpoints_models_faults_and_statuses(
    oai: openai.AsyncOpenAI, sim: SimServer, http: aiohttp.ClientSession
) -> None:
    await oai.chat.completions.create(model="a", messages=user("1"))
    await oai.chat.completions.create(model="a", messages=user("2"))
    await oai.embeddings.create(model="e", input="x")
    with pytest.raises(openai.InternalServerError):
        await oai.chat.completions.create(model="b", messages=user("3"), extra_headers={"x-sim-fault": "500"})
    await oai.models.list()
    stats = await get_json(http, f"{sim.url}/sim/stats")
    assert stats["requests_total"] == 5
    assert stats["in_flight"] == 0
    assert stats["by_endpoint"] == {"chat.completions": 3, "embeddings": 1, "models": 1}
    assert stats["by_model"] == {"a": 2, "b": 1, "e": 1}
    assert stats["by_fault"] == {"500": 1}
    assert stats["by_status"] == {"200": 4, "500": 1}


async def test_requests_log_shows_what_upstream_received_with_keys_masked(
    oai: openai.AsyncOpenAI, claude: anthropic.AsyncAnthropic, sim: SimServer, http: aiohttp.ClientSession
) -> None:
    await oai.chat.completions.create(model="gpt", messages=user("first"), temperature=0.5)
    with pytest.raises(anthropic.InternalServerError):
        await claude.messages.create(model="claude", max_tokens=5, messages=user("second [sim:fault=500]"))
    raw_body = {"model": "raw", "max_tokens": 5, "messages": user("third")}
    async with http.post(f"{sim.url}/v1/messages", json=raw_body, headers={"x-api-key": "secret-key-5555"}):
        pass
    log = (await get_json(http, f"{sim.url}/sim/requests?limit=5"))["requests"]
    assert [entry["path"] for entry in log] == ["/v1/chat/completions", "/v1/messages", "/v1/messages"]
    first, second, third = log
    assert first["model"] == "gpt" and first["body"]["temperature"] == 0.5
    assert first["body"]["messages"] == user("first")
    assert first["headers"]["authorization"] == "****1234"
    assert first["fault"] is None and first["status"] == 200
    assert second["headers"]["authorization"] == "****9876"
    assert second["fault"] == "500" and second["fault_source"] == "directive" and second["status"] == 500
    assert third["headers"]["x-api-key"] == "****5555"
    raw = str(log)
    assert "abcd1234" not in raw and "wxyz9876" not in raw and "secret-key" not in raw
    only_last = (await get_json(http, f"{sim.url}/sim/requests?limit=1"))["requests"]
    assert [entry["model"] for entry in only_last] == ["raw"]


async def test_reset_zeroes_counters_log_and_queue(
    oai: openai.AsyncOpenAI, sim: SimServer, http: aiohttp.ClientSession
) -> None:
    await oai.chat.completions.create(model="a", messages=user("1"))
    async with http.post(f"{sim.url}/sim/faults", json={"fault": "500", "count": 5}):
        pass
    async with http.post(f"{sim.url}/sim/reset") as response:
        assert response.status == 200
    stats = await get_json(http, f"{sim.url}/sim/stats")
    assert stats["requests_total"] == 0 and stats["by_status"] == {} and stats["queued_faults"] == []
    assert (await get_json(http, f"{sim.url}/sim/requests"))["requests"] == []
    reply = await oai.chat.completions.create(model="a", messages=user("after reset"))
    assert reply.choices[0].finish_reason == "stop"


async def test_put_scenario_replaces_behaviour_live(sim: SimServer, http: aiohttp.ClientSession) -> None:
    body = {"model": "m", "messages": user("x")}
    async with http.post(f"{sim.url}/v1/chat/completions", json=body) as response:
        assert response.status == 200
    async with http.put(f"{sim.url}/sim/scenario", json={"faults": {"rates": {"503": 1.0}}}) as response:
        assert response.status == 200
    async with http.post(f"{sim.url}/v1/chat/completions", json=body) as response:
        assert response.status == 503
    current = await get_json(http, f"{sim.url}/sim/scenario")
    assert current["faults"]["rates"] == {"503": 1.0}
    async with http.put(
        f"{sim.url}/sim/scenario", json={"faults": {"rates": {"500": 0.9, "429": 0.9}}}
    ) as response:
        assert response.status == 400
        assert "must not exceed 1" in (await response.json())["error"]["message"]


async def test_queued_faults_can_be_listed_and_cleared(sim: SimServer, http: aiohttp.ClientSession) -> None:
    async with http.post(f"{sim.url}/sim/faults", json={"fault": "cut", "model": "m", "count": 3}):
        pass
    assert (await get_json(http, f"{sim.url}/sim/faults"))["queued"] == [
        {"fault": "cut", "model": "m", "count": 3}
    ]
    async with http.delete(f"{sim.url}/sim/faults") as response:
        assert (await response.json())["queued"] == []
    async with http.post(f"{sim.url}/sim/faults", json={"fault": "500", "count": 0}) as response:
        assert response.status == 400


async def test_require_api_key_in_both_dialects(start_sim: Any) -> None:
    sim: SimServer = await start_sim(require_api_key="sk-right")
    async with openai.AsyncOpenAI(base_url=f"{sim.url}/v1", api_key="sk-wrong", max_retries=0) as wrong:
        with pytest.raises(openai.AuthenticationError) as caught:
            await wrong.chat.completions.create(model="m", messages=user("x"))
        body: Any = caught.value.body
        assert body["code"] == "invalid_api_key"
        with pytest.raises(openai.AuthenticationError):
            await wrong.embeddings.create(model="e", input="x")
    async with openai.AsyncOpenAI(base_url=f"{sim.url}/v1", api_key="sk-right", max_retries=0) as right:
        assert (await right.chat.completions.create(model="m", messages=user("x"))).choices
    async with anthropic.AsyncAnthropic(base_url=sim.url, api_key="sk-nope", max_retries=0) as bad:
        with pytest.raises(anthropic.AuthenticationError) as refused:
            await bad.messages.create(model="c", max_tokens=5, messages=user("x"))
        error: Any = refused.value.body
        assert error["error"]["type"] == "authentication_error"
    async with anthropic.AsyncAnthropic(base_url=sim.url, api_key="sk-right", max_retries=0) as good:
        assert (await good.messages.create(model="c", max_tokens=5, messages=user("x"))).content
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{sim.url}/v1/chat/completions", json={"model": "m", "messages": user("x")}) as response,
    ):
        assert response.status == 401


def flaky_path() -> Path:
    return Path(str(resources.files("headway.sim") / "scenarios" / "flaky.yaml"))


async def test_flaky_example_fails_only_its_model(start_sim: Any) -> None:
    scenario = Scenario.load(flaky_path())
    flaky = scenario.dials_for("flaky-model")
    assert sum(flaky.faults.rates.values()) == pytest.approx(0.30)
    assert scenario.dials_for("steady-model").faults.rates == {}
    sim: SimServer = await start_sim(scenario)

    async def status(http: aiohttp.ClientSession, model: str, index: int) -> int | str:
        body = {"model": model, "messages": user(f"request {index}")}
        try:
            async with http.post(f"{sim.url}/v1/chat/completions", json=body) as response:
                await response.json()
                return response.status
        except (aiohttp.ClientError, ValueError) as exc:
            return type(exc).__name__

    async with aiohttp.ClientSession() as http:
        flaky_results = await asyncio.gather(*(status(http, "flaky-model", i) for i in range(60)))
        steady_results = await asyncio.gather(*(status(http, "steady-model", i) for i in range(20)))
        stats = await get_json(http, f"{sim.url}/sim/stats")
    assert set(steady_results) == {200}
    assert any(result != 200 for result in flaky_results)
    assert sum(stats["by_fault"].values()) == sum(1 for result in flaky_results if result != 200) + stats[
        "by_fault"
    ].get("slow_first_token", 0)
    assert set(stats["by_fault"]) <= set(flaky.faults.rates)


def test_load_reports_bad_files(tmp_path: Path) -> None:
    from headway.errors import ConfigError

    bad = tmp_path / "bad.yaml"
    bad.write_text("models:\n  m:\n    latency_ms: {dist: uniform, low: 5}\n")
    with pytest.raises(ConfigError) as caught:
        Scenario.load(bad)
    assert caught.value.file == str(bad)
    assert caught.value.path is not None and caught.value.path.startswith("models.m.latency_ms")
    typo = tmp_path / "typo.yaml"
    typo.write_text("latncy_ms: 5\n")
    with pytest.raises(ConfigError, match="latncy_ms"):
        Scenario.load(typo)
    with pytest.raises(ConfigError, match="cannot read"):
        Scenario.load(tmp_path / "missing.yaml")


def test_run_sim_serves_until_sigterm() -> None:
    script = (
        "from headway.sim import Scenario, run_sim\n"
        "run_sim(Scenario(), '127.0.0.1', 0, on_ready=lambda url: print(url, flush=True))\n"
    )
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        with openai.OpenAI(base_url=f"{url}/v1", api_key="k", max_retries=0) as client:
            reply = client.chat.completions.create(model="m", messages=user("from the CLI"))
        assert (reply.choices[0].message.content or "").startswith("Simulated reply to: from the CLI")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
