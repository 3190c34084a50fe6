"""The gateway the real-client tests (LangChain, pydantic-ai) run against.

Three routes for each client: ``chat`` (an OpenAI-type provider, Responses translated onto
chat), ``claude`` (an Anthropic provider, translated) and ``native`` (an OpenAI-type
provider with ``responses: native``, whose own ``/v1/responses`` answers).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from headway.config.loader import parse_config
from headway.testing import GatewayThread
from tests.conftest import base_config

MODELS = ("chat", "claude", "native")


def client_gateway(sim_url: str, directory: Path, models: dict[str, Any]) -> Iterator[GatewayThread]:
    native = {
        "type": "openai",
        "base_url": f"{sim_url}/v1",
        "api_key": "${SIM_KEY:-sk-sim-openai}",
        "responses": "native",
    }
    models = {
        "native": {
            "deployments": [{"provider": "sim-native", "model": "gpt-5-mini"}],
            "price": {"input": 0.25, "output": 2.0},
        },
        **models,
    }
    sections = {"providers": {"sim-native": native}, "models": models}
    config = parse_config(
        base_config(sim_url, f"sqlite:///{directory}/hw.db", directory / "spill", **sections)
    )
    with GatewayThread(config) as gateway:
        yield gateway
