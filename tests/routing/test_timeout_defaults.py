"""Defaults that match intent: a timeout moves on (other deployments, then fallbacks), and the
request deadline leaves the fallbacks their time unless an explicit one says otherwise."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from headway.config.loader import parse_config
from headway.routing.deadlines import deadline_warnings, default_deadline_s
from headway.testing import GatewayThread
from tests.conftest import base_config
from tests.http import post_json

from .simctl import queue_fault, received, unique

U = {name: unique(name) for name in ("hung", "hung2", "rescue")}


@pytest.fixture(scope="module")
def gw(sim: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayThread]:
    directory = tmp_path_factory.mktemp("timeout-defaults")
    models = {
        # The case: a 1 s total, default retries, a fallback, no deadline_s.
        "short": {"deployments": [{"provider": "sim", "model": U["hung"]}], "timeouts": {"total": 1}, "fallbacks": ["rescue"]},
        "two": {
            "deployments": [{"provider": "sim", "model": U["hung"]}, {"provider": "sim", "model": U["hung2"]}],
            "timeouts": {"first_token": 0.5},
            "fallbacks": ["rescue"],
        },
        "rescue": {"deployments": [{"provider": "sim", "model": U["rescue"]}]},
    }
    config = parse_config(base_config(sim.url, f"sqlite:///{directory}/hw.db", directory / "spill", models=models))
    with GatewayThread(config) as gateway:
        yield gateway


def chat(gw: GatewayThread, model: str) -> Any:
    return post_json(f"{gw.url}/v1/chat/completions", {"model": model, "messages": [{"role": "user", "content": "hi"}]})


def test_a_hung_deployment_is_not_retried_the_fallback_answers(gw: GatewayThread, sim: Any) -> None:
    before = received(sim.url, U["hung"])
    queue_fault(sim.url, "hang", U["hung"], count=3)
    reply = chat(gw, "short")
    assert reply.status == 200, reply.body
    assert reply.headers["x-headway-served-by"] == "fallback:rescue"
    assert received(sim.url, U["hung"]) - before == 1  # once, not three times
    record = gw.record(reply.headers["x-request-id"])
    assert [(a.model, a.error_type) for a in record.attempts] == [(U["hung"], "timeout"), (U["rescue"], None)]


def test_each_deployment_gets_one_try_before_the_fallback(gw: GatewayThread, sim: Any) -> None:
    before = (received(sim.url, U["hung"]), received(sim.url, U["hung2"]))
    queue_fault(sim.url, "hang", U["hung"], count=3)
    queue_fault(sim.url, "hang", U["hung2"], count=3)
    reply = chat(gw, "two")
    assert reply.status == 200 and reply.headers["x-headway-served-by"] == "fallback:rescue"
    assert (received(sim.url, U["hung"]) - before[0], received(sim.url, U["hung2"]) - before[1]) == (1, 1)


def _config(tmp_path: Path, **short: Any) -> Any:
    models = {
        "short": {"deployments": [{"provider": "sim", "model": "m"}], "timeouts": {"total": 2}, "fallbacks": ["rescue"], **short},
        "rescue": {"deployments": [{"provider": "sim", "model": "r"}], "timeouts": {"first_token": 10}},
    }
    return base_config("http://127.0.0.1:9", f"sqlite:///{tmp_path}/hw.db", tmp_path / "spill", models=models)


def test_the_default_deadline_covers_the_fallback_chain(tmp_path: Path) -> None:
    config = parse_config(_config(tmp_path))
    # 2 s for the hung primary (tried once: it has one deployment) + 10 s for the fallback.
    assert default_deadline_s("short", config.models) == pytest.approx(12)
    assert deadline_warnings(config) == []


def test_config_check_warns_when_the_deadline_leaves_no_time_for_fallbacks(tmp_path: Path) -> None:
    config = parse_config(_config(tmp_path, deadline_s=2))
    (warning,) = deadline_warnings(config)
    assert "models.short.deadline_s (2 s) leaves no time for rescue" in warning
    assert deadline_warnings(parse_config(_config(tmp_path, deadline_s=5))) == []

    import yaml

    path = tmp_path / "headway.yaml"
    path.write_text(yaml.safe_dump(_config(tmp_path, deadline_s=2)))
    done = subprocess.run(
        [sys.executable, "-m", "headway", "config", "check", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "warning: models.short.deadline_s (2 s) leaves no time for rescue" in done.stdout + done.stderr
