"""openai-node's ``client.responses.create`` and the Vercel AI SDK's default OpenAI provider
(``createOpenAI(...)(id)``, which speaks ``/v1/responses``) against Headway.

The clients are pinned in ``tests/dialects/node/package.json`` / ``package-lock.json``;
``npm ci`` installs them on first use. One Node run
(``tests/dialects/node/clients.mjs``) makes every call and prints what the clients got.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from headway.config.loader import parse_config
from headway.testing import GatewayThread
from tests.conftest import base_config

NODE_DIR = Path(__file__).resolve().parent / "node"


@pytest.fixture(scope="module")
def node_clients() -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("Node.js is not installed on this machine")
    if not (NODE_DIR / "node_modules" / "@ai-sdk" / "openai").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True, timeout=300, capture_output=True)
    return NODE_DIR / "clients.mjs"


@pytest.fixture(scope="module")
def results(node_clients: Path, gateway_for_node: GatewayThread) -> dict[str, Any]:
    run = subprocess.run(["node", str(node_clients), gateway_for_node.url], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    return dict(json.loads(run.stdout))


@pytest.fixture(scope="module")
def gateway_for_node(sim: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayThread]:
    directory = tmp_path_factory.mktemp("node")
    with GatewayThread(parse_config(base_config(sim.url, f"sqlite:///{directory}/hw.db", directory / "spill"))) as gw:
        yield gw


def test_openai_node_creates_a_response(results: dict[str, Any]) -> None:
    plain = results["plain"]
    assert plain["id"].startswith("resp_") and plain["status"] == "completed" and plain["text"]
    assert plain["usage"]["output_tokens"] > 0


def test_openai_node_streams_the_event_sequence(results: dict[str, Any]) -> None:
    stream = results["stream"]
    assert stream["kinds"][:2] == ["response.created", "response.in_progress"] and stream["kinds"][-1] == "response.completed"
    assert stream["deltas"] and stream["completedText"] == stream["deltas"] and stream["outputTokens"] > 0


def test_openai_node_tools_and_previous_response_id(results: dict[str, Any]) -> None:
    tools = results["tools"]
    assert tools["name"] == "get_weather" and "city" in json.loads(tools["arguments"])
    assert tools["followUpText"] and tools["previous"].startswith("resp_")


def test_openai_node_structured_output(results: dict[str, Any]) -> None:
    assert isinstance(results["structured"]["city"], str) and isinstance(results["structured"]["celsius"], int)


def test_the_vercel_ai_sdk_default_provider(results: dict[str, Any]) -> None:
    assert results["vercel"]["text"] and results["vercel"]["finishReason"] == "stop"
    assert results["vercel"]["inputTokens"] > 0 and results["vercel"]["outputTokens"] > 0
    assert results["vercelStream"]["text"] and results["vercelStream"]["finishReason"] == "stop"
    assert results["vercelTool"]["calls"] and results["vercelTool"]["calls"][0]["name"] == "get_weather"
    assert "city" in results["vercelTool"]["calls"][0]["input"]


def test_openai_node_background_responses(results: dict[str, Any]) -> None:
    background = results["background"]
    assert background["queued"] == "queued" and background["finished"] == "completed" and background["text"]
    assert background["cancelled"] == "cancelled" and background["retrieved"] == "cancelled"
