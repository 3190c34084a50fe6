"""Redis stops mid-run: replicas keep serving on local limits (no 5xx), and return to global ones."""

from __future__ import annotations

import concurrent.futures
import time
from collections import Counter
from typing import Any

import pytest

from headway.cli.replicas import RedisServer, ReplicaSet, scratch_database
from tests.scale.conftest import get_json, post_chat, replica_config

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


def burst(replicas: ReplicaSet, count: int) -> Counter[int]:
    targets = [replicas.replica_url(i % replicas.count) for i in range(count)]
    with concurrent.futures.ThreadPoolExecutor(9) as pool:
        return Counter(status for status, _, _ in pool.map(lambda url: post_chat(url, "limited"), targets))


def redis_states(replicas: ReplicaSet) -> list[str]:
    states = []
    for index in range(replicas.count):
        status, body = get_json(replicas.replica_url(index) + "/readyz")
        assert status == 200, body  # degraded is still ready: it serves
        states.append(body["checks"]["redis"]["state"])
    return states


def seen(replicas: ReplicaSet) -> list[int]:
    return [get_json(replicas.replica_url(i) + "/readyz")[1]["checks"]["redis"]["replicas_seen"] for i in range(replicas.count)]


def test_a_redis_outage_degrades_to_local_limits_without_5xx_and_recovers(module_sim: Any) -> None:
    with RedisServer() as redis, scratch_database(prefix="hw_test_") as store_url:
        config = replica_config(
            module_sim.url,
            store_url,
            redis={"url": redis.url, "key_prefix": "hw:", "timeout_ms": 200, "probe_interval_ms": 200},
            # Alone, each of the three replicas enforces a third (by default: it saw three alive in
            # Redis), so the total stays 30 during an outage.
            admission={"limits": {"models": {"limited": {"requests_per_minute": 30}}}},
        )
        with ReplicaSet(config, replicas=3) as replicas:
            assert burst(replicas, 15) == {200: 15}
            assert redis_states(replicas) == ["connected"] * 3
            deadline = time.monotonic() + 20
            while seen(replicas) != [3, 3, 3]:  # heartbeats: every replica knows there are three
                assert time.monotonic() < deadline, seen(replicas)
                time.sleep(0.1)

            redis.stop()
            during = burst(replicas, 60)  # 20 to each replica: 10 admitted by each
            assert during == {200: 30, 429: 30}, during
            assert redis_states(replicas) == ["degraded"] * 3
            _, body = get_json(replicas.replica_url(0) + "/readyz")
            assert body["status"] == "degraded" and body["degraded"] == ["redis"]

            redis.start()  # empty: a restarted Redis has forgotten the window
            deadline = time.monotonic() + 20
            while redis_states(replicas) != ["connected"] * 3:
                assert time.monotonic() < deadline, redis_states(replicas)
                time.sleep(0.1)
            after = burst(replicas, 45)
            assert after == {200: 30, 429: 15}, after  # one global window again
