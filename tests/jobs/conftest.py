"""Fixtures for jobs and batches: a simulator of our own (its request log is counted), configs, files."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from headway.config.loader import parse_config
from headway.config.models import HeadwayConfig
from headway.testing import GatewayThread
from tests.conftest import base_config
from tests.http import request

WEBHOOK_SECRET = "whsec_" + "c2VjcmV0LWZvci1qb2ItdGVzdHMtMDEyMzQ1Njc4OWFi"
ENV = {"JOBS_WEBHOOK_SECRET": WEBHOOK_SECRET}


@pytest.fixture(scope="module")
def jobs_sim() -> Iterator[Any]:
    """A simulator whose request log these tests read (the suite's shared one is busy and short)."""
    from headway.sim import Scenario, start_in_thread

    handle = start_in_thread(Scenario(seed=11, request_log_size=5000), host="127.0.0.1", port=0)
    yield handle
    handle.stop()


def jobs_raw_config(sim_url: str, store_url: str, tmp: Path, **sections: Any) -> dict[str, Any]:
    jobs = {"poll_interval_s": 0.1, "webhook_secret": "${JOBS_WEBHOOK_SECRET}", **sections.pop("jobs", {})}
    return base_config(sim_url, store_url, tmp / "spill", jobs=jobs, **sections)


@pytest.fixture
def jobs_config(jobs_sim: Any, tmp_path: Path, store_url: str) -> Callable[..., HeadwayConfig]:
    """Configs on the suite's store (SQLite, or PostgreSQL when the suite is rerun there)."""

    def build(**sections: Any) -> HeadwayConfig:
        return parse_config(jobs_raw_config(jobs_sim.url, store_url, tmp_path, **sections), env=ENV)

    return build


@pytest.fixture
def jobs_gateway(jobs_config: Callable[..., HeadwayConfig]) -> Iterator[GatewayThread]:
    with GatewayThread(jobs_config()) as gw:
        yield gw


def client(gw: GatewayThread, api_key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=api_key, max_retries=0)


def chat_line(custom_id: str, text: str, model: str = "chat") -> str:
    return json.dumps(
        {
            "custom_id": custom_id,
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": model, "messages": [{"role": "user", "content": text}]},
        }
    )


def upload(sdk: openai.OpenAI, lines: list[str], name: str = "input.jsonl") -> str:
    return sdk.files.create(file=(name, io.BytesIO("\n".join(lines).encode())), purpose="batch").id


def wait_until(check: Callable[[], Any], timeout: float = 20.0, interval: float = 0.02) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def sim_requests(sim: Any, marker: str) -> list[dict[str, Any]]:
    """Requests the simulator received whose last message contains ``marker``."""
    log = request("GET", f"{sim.url}/sim/requests?limit=5000").json()["requests"]
    found = []
    for entry in log:
        body = entry.get("body") or {}
        messages = body.get("messages") if isinstance(body, dict) else None
        if messages and marker in str(messages[-1].get("content")):
            found.append(entry)
    return found


def finished_batch(sdk: openai.OpenAI, batch_id: str, timeout: float = 30.0) -> Any:
    def done() -> Any:
        batch = sdk.batches.retrieve(batch_id)
        return batch if batch.status in ("completed", "failed", "expired", "cancelled") else None

    return wait_until(done, timeout, interval=0.05)


def jsonl(content: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in content.splitlines() if line.strip()]
