"""Steering the session's simulator from tests: queue faults per model, count what each model received."""

from __future__ import annotations

import uuid
from typing import Any

from tests.http import post_json, request


def unique(prefix: str) -> str:
    """A model name no other test sends, so the simulator's per-model counters belong to one test."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def queue_fault(sim_url: str, kind: str, model: str, count: int = 1) -> None:
    reply = post_json(f"{sim_url}/sim/faults", {"fault": kind, "model": model, "count": count})
    assert reply.status == 200, reply.body


def received(sim_url: str, model: str) -> int:
    """How many requests the simulator got for ``model`` (every endpoint, every outcome)."""
    stats: dict[str, Any] = request("GET", f"{sim_url}/sim/stats").json()
    return int(stats["by_model"].get(model, 0))
