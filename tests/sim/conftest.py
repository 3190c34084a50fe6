"""Fixtures for the simulator's tests: a fresh server per test and clients pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import anthropic
import openai
import pytest

from headway.sim import Scenario, SimServer

StartSim = Callable[..., Awaitable[SimServer]]


@pytest.fixture
async def start_sim() -> AsyncIterator[StartSim]:
    """Start simulators with any scenario (as a ``Scenario`` or keyword arguments); all stop after the test."""
    servers: list[SimServer] = []

    async def start(scenario: Scenario | None = None, **fields: Any) -> SimServer:
        server = SimServer(scenario or Scenario.model_validate(fields))
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


@pytest.fixture
async def sim(start_sim: StartSim) -> SimServer:
    return await start_sim(Scenario())


@pytest.fixture
async def oai(sim: SimServer) -> AsyncIterator[openai.AsyncOpenAI]:
    client = openai.AsyncOpenAI(base_url=f"{sim.url}/v1", api_key="sk-test-abcd1234", max_retries=0)
    yield client
    await client.close()


@pytest.fixture
async def claude(sim: SimServer) -> AsyncIterator[anthropic.AsyncAnthropic]:
    client = anthropic.AsyncAnthropic(base_url=sim.url, api_key="sk-ant-test-wxyz9876", max_retries=0)
    yield client
    await client.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
