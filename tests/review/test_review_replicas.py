"""Durability and replicas: a restart mid-review loses nothing; a decision on one gateway releases a waiter on another."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis

from headway.testing import GatewayThread
from tests.http import Reply, request
from tests.review.conftest import (
    CONSEQUENTIAL,
    admin,
    chat,
    decide,
    eventually,
    hold,
    item,
    review_config,
    review_section,
)

REDIS_URL = "redis://127.0.0.1:6379/0"


def test_no_item_is_lost_when_headway_restarts_mid_review(sim: Any, tmp_path: Path) -> None:
    config = review_config(sim.url, tmp_path)
    with GatewayThread(config) as first:
        waiting_id, waiting = hold(first, "held before the restart")
        claimed_id, _ = hold(first, "claimed before the restart")
        assert admin(first, "POST", f"/admin/reviews/{claimed_id}/claim").status == 200
        before = {r["id"]: r for r in admin(first, "GET", "/admin/reviews?status=open").json()["data"]}
    with GatewayThread(config) as second:  # a new process on the same store
        after = {r["id"]: r for r in admin(second, "GET", "/admin/reviews?status=open").json()["data"]}
        assert after == before
        assert after[claimed_id]["status"] == "claimed" and after[waiting_id]["status"] == "pending"
        assert item(second, waiting_id)["original"]["object"] == "chat.completion"
        assert decide(second, waiting_id, "edit", output="decided after the restart").status == 200
        assert decide(second, claimed_id, "approve").status == 200  # the same reviewer (anonymous) holds the claim
        polled = request("GET", f"{second.url}/v1/reviews/{waiting_id}")
        assert polled.status == 200 and polled.json()["choices"][0]["message"]["content"] == "decided after the restart"
        assert waiting.json()["status_url"].endswith(f"/v1/reviews/{waiting_id}")


def wait_on(gw: GatewayThread, prompt: str) -> Reply:
    return chat(gw, prompt, metadata=CONSEQUENTIAL, headers={"prefer": "wait=20"})


def held_id(gw: GatewayThread, prompt: str) -> str:
    def find() -> str | None:
        for summary in admin(gw, "GET", "/admin/reviews?status=pending&limit=500").json()["data"]:
            if item(gw, summary["id"])["request"]["messages"][0]["content"] == prompt:
                return str(summary["id"])
        return None

    return eventually(find, what=f"the item for {prompt!r}")


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    prefix = f"hwtest-review-{uuid.uuid4().hex[:10]}:"
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis not available: {exc.__class__.__name__}")
    yield prefix
    for key in client.scan_iter(match=prefix + "*"):
        client.delete(key)
    client.close()


@pytest.mark.redis
def test_a_decision_on_one_gateway_wakes_the_waiter_on_another_through_redis(
    sim: Any, tmp_path: Path, redis_prefix: str
) -> None:
    # Polling is slower than the caller's wait here, so only the pub/sub wake-up can deliver the decision in time.
    section = review_section(poll_interval_ms=60_000)
    config = review_config(sim.url, tmp_path, review=section, redis={"url": REDIS_URL, "key_prefix": redis_prefix})
    with GatewayThread(config) as a, GatewayThread(config) as b, ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(wait_on, a, "wait on a, decide on b")
        review_id = held_id(b, "wait on a, decide on b")
        eventually(lambda: a.runtime.review is not None and a.runtime.review.waiters.stats.waiting, what="a's waiter")
        assert decide(b, review_id, "edit", output="decided on b").status == 200
        reply = waiting.result(timeout=30)
        assert reply.status == 200 and reply.json()["choices"][0]["message"]["content"] == "decided on b"
        assert a.runtime.review is not None and a.runtime.review.waiters.stats.received >= 1


def test_without_redis_the_waiter_on_another_gateway_polls_the_store(sim: Any, tmp_path: Path) -> None:
    config = review_config(sim.url, tmp_path)
    with GatewayThread(config) as a, GatewayThread(config) as b, ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(wait_on, a, "wait on a, reject on b")
        review_id = held_id(b, "wait on a, reject on b")
        assert decide(b, review_id, "reject", comment="no").status == 200
        reply = waiting.result(timeout=30)
        assert a.runtime.review is not None and a.runtime.review.waiters.stats.received == 0
        assert reply.status == 403 and reply.json()["error"]["code"] == "review_rejected"
