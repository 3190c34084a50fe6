"""Configs and clients for the scale tests: replicas of one gateway over one store and one Redis."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import pytest


def replica_config(sim_url: str, store: str, **sections: Any) -> dict[str, Any]:
    """What every replica loads: the simulator as provider, two chat models, quiet logs."""
    deployment = [{"provider": "sim", "model": "gpt-4o-mini"}]
    config: dict[str, Any] = {
        "store": store,
        "auth": {"mode": "none"},
        "logging": {"level": "warning"},
        "request_log": {"flush_interval_ms": 50},
        "providers": {"sim": {"type": "openai", "base_url": f"{sim_url}/v1", "api_key": "${SIM_KEY:-sk-sim}"}},
        "models": {
            "chat": {"deployments": deployment, "price": {"input": 0.15, "output": 0.60}},
            "limited": {"deployments": deployment, "price": {"input": 0.15, "output": 0.60}},
        },
    }
    config.update(sections)
    return config


def post_chat(base_url: str, model: str = "chat", content: str = "hello", timeout: float = 60, **extra: Any) -> tuple[int, dict[str, str], Any]:
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": content}], "max_tokens": 8, **extra}).encode()
    request = urllib.request.Request(
        base_url + "/v1/chat/completions", data=body, headers={"content-type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        payload = exc.read()
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, json.loads(payload) if payload.startswith(b"{") else None


def spend_until_refused(url: str, outcomes: list[tuple[int, str | None]], lock: Any, max_tokens: int, requests: int = 100) -> None:
    """One client spending against a budget until it is refused as exceeded (bounded by ``requests``)."""
    for _ in range(requests):
        status, headers, body = post_chat(url, content="spend", max_tokens=max_tokens)
        code = body["error"]["code"] if status != 200 and body else None
        with lock:
            outcomes.append((status, code))
        if code == "budget_exceeded":
            return
        if code == "budget_reserved":  # room frees as other requests settle
            time.sleep(float(headers.get("retry-after-ms", "200")) / 1000 / 10)


def get_json(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture(scope="module")
def module_sim() -> Any:
    """A simulator for one module's replicas (its own, so its request log is the module's)."""
    from headway.sim import Scenario, start_in_thread

    handle = start_in_thread(Scenario(seed=11), host="127.0.0.1", port=0)
    yield handle
    handle.stop()
