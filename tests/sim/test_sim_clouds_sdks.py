"""The official SDKs' cloud clients against the simulator: its Azure and Claude-on-Vertex dialects
are addressed, authenticated and parsed exactly as those clients expect."""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest
from aiohttp import ClientSession

from headway.sim import Scenario, SimServer
from headway.sim.scenario import CloudAuth

KEY = "azure-key-0123456789"


@pytest.fixture
async def cloud_sim(start_sim: Any) -> SimServer:
    server: SimServer = await start_sim(Scenario(require_api_key=KEY, cloud_auth=CloudAuth(oauth_clients={"app": "app-secret"})))
    return server


async def sim_token(sim: SimServer) -> str:
    form = {"grant_type": "client_credentials", "client_id": "app", "client_secret": "app-secret", "scope": "s"}
    async with ClientSession() as http, http.post(f"{sim.url}/tenant/oauth2/v2.0/token", data=form) as resp:
        return str((await resp.json())["access_token"])


async def test_the_openai_sdks_azure_client_speaks_to_the_azure_dialect(cloud_sim: SimServer) -> None:
    client = openai.AsyncAzureOpenAI(azure_endpoint=cloud_sim.url, api_key=KEY, api_version="2024-10-21", max_retries=0)
    completion = await client.chat.completions.create(model="my-deployment", messages=[{"role": "user", "content": "hello azure"}])
    assert completion.choices[0].message.content is not None and completion.choices[0].message.content.startswith("Simulated reply to: hello azure")
    received = cloud_sim.state.recorder.recent(1)[0]
    assert received["path"] == "/openai/deployments/my-deployment/chat/completions" and received["model"] == "my-deployment"
    stream = await client.chat.completions.create(model="my-deployment", messages=[{"role": "user", "content": "stream"}], stream=True)
    chunks = [chunk async for chunk in stream]
    assert chunks[0].choices == []  # Azure's prompt_filter_results chunk comes first
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).startswith("Simulated reply to: stream")
    with pytest.raises(openai.AuthenticationError):
        await openai.AsyncAzureOpenAI(azure_endpoint=cloud_sim.url, api_key="wrong", api_version="2024-10-21", max_retries=0).chat.completions.create(
            model="my-deployment", messages=[{"role": "user", "content": "x"}]
        )


async def test_the_azure_client_with_an_entra_token_provider(cloud_sim: SimServer) -> None:
    token = await sim_token(cloud_sim)
    client = openai.AsyncAzureOpenAI(azure_endpoint=cloud_sim.url, azure_ad_token=token, api_version="2024-10-21", max_retries=0)
    completion = await client.chat.completions.create(model="dep", messages=[{"role": "user", "content": "entra"}])
    assert completion.choices[0].finish_reason == "stop"


async def test_the_anthropic_sdks_vertex_client_speaks_to_the_claude_on_vertex_dialect(cloud_sim: SimServer) -> None:
    token = await sim_token(cloud_sim)
    client = anthropic.AsyncAnthropicVertex(region="us-east5", project_id="proj", access_token=token, base_url=f"{cloud_sim.url}/v1", max_retries=0)
    message = await client.messages.create(model="claude-sonnet-4@20250514", max_tokens=64, messages=[{"role": "user", "content": "hello vertex"}])
    assert message.content[0].type == "text" and message.content[0].text.startswith("Simulated reply to: hello vertex")
    received = cloud_sim.state.recorder.recent(1)[0]
    assert received["path"] == "/v1/projects/proj/locations/us-east5/publishers/anthropic/models/claude-sonnet-4@20250514:rawPredict"
    assert received["body"]["anthropic_version"] and "model" not in received["body"]
    async with client.messages.stream(model="claude-sonnet-4@20250514", max_tokens=64, messages=[{"role": "user", "content": "stream"}]) as stream:
        text = "".join([piece async for piece in stream.text_stream])
    assert text.startswith("Simulated reply to: stream")
    assert cloud_sim.state.recorder.recent(1)[0]["path"].endswith(":streamRawPredict")
