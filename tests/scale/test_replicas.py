"""Three replicas over one PostgreSQL and one Redis: limits are global, and losing a replica loses nothing."""

from __future__ import annotations

import concurrent.futures
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from headway.cli.replicas import ReplicaSet, scratch_database
from headway.store import open_store
from tests.scale.conftest import post_chat, replica_config
from tests.scale.services import SHARED_REDIS, redis_prefix

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


@pytest.fixture(scope="module")
def cluster(module_sim: Any) -> Iterator[tuple[ReplicaSet, str]]:
    with redis_prefix() as prefix, scratch_database(prefix="hw_test_") as store:
        config = replica_config(
            module_sim.url,
            store,
            redis={"url": SHARED_REDIS, "key_prefix": prefix},
            admission={"limits": {"models": {"limited": {"requests_per_minute": 60}}}},
        )
        with ReplicaSet(config, replicas=3) as replicas:
            yield replicas, store


def test_a_limit_of_60_a_minute_admits_60_of_150_requests_spread_over_three_replicas(cluster: tuple[ReplicaSet, str]) -> None:
    replicas, _ = cluster
    targets = [replicas.replica_url(i % 3) for i in range(150)]
    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        replies = list(pool.map(lambda url: (url, post_chat(url, "limited")), targets))
    statuses = Counter(status for _, (status, _, _) in replies)
    assert set(statuses) <= {200, 429}
    assert 59 <= statuses[200] <= 61, statuses
    # Every replica admitted some and refused some: the limit is one window, not three.
    for index in range(3):
        mine = Counter(status for url, (status, _, _) in replies if url == replicas.replica_url(index))
        assert mine[200] > 0 and mine[429] > 0, (index, mine)
    refused = next(body for _, (status, _, body) in replies if status == 429)
    assert refused["error"]["limit"]["limit"] == 60 and refused["error"]["limit"]["scope"] == "model"


def test_stopping_a_replica_under_load_loses_no_record_and_the_others_keep_serving(cluster: tuple[ReplicaSet, str]) -> None:
    replicas, store_url = cluster
    client = openai.OpenAI(base_url=replicas.url + "/v1", api_key="unused", max_retries=3, timeout=30)
    served: list[tuple[float, str]] = []
    failures: list[str] = []
    # Run until the other replicas have carried well past the stop (bounded in count and time):
    # a fixed request count let a fast machine finish everything within the stop's first half second.
    wanted_after_stop, most, deadline = 40, 3000, time.monotonic() + 90
    killed_at: list[float] = []
    exit_codes: list[int | None] = []
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                carried = bool(killed_at) and sum(at > killed_at[0] + 0.5 for at, _ in served[-wanted_after_stop:]) >= wanted_after_stop
                if carried or len(served) + len(failures) >= most or time.monotonic() > deadline:
                    return
            try:
                raw = client.chat.completions.with_raw_response.create(
                    model="chat", messages=[{"role": "user", "content": "keep going"}], max_tokens=8
                )
                with lock:
                    served.append((time.monotonic(), raw.headers["x-request-id"]))
            except openai.APIError as exc:
                with lock:
                    failures.append(repr(exc))

    def killer() -> None:
        while len(served) < 60:
            time.sleep(0.01)
        killed_at.append(time.monotonic())
        exit_codes.append(replicas.stop_replica(0, signal.SIGTERM))  # drains, flushes its request log, exits

    threads = [threading.Thread(target=worker) for _ in range(6)] + [threading.Thread(target=killer)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not failures, failures[:3]
    # uvicorn re-raises the signal after its graceful shutdown, so the exit says SIGTERM, not a crash.
    assert exit_codes == [-signal.SIGTERM]
    after_kill = [rid for at, rid in served if at > killed_at[0] + 0.5]
    assert len(after_kill) >= wanted_after_stop  # the other two replicas carried on

    store = open_store(store_url)
    try:
        deadline = time.monotonic() + 15
        missing = [rid for _, rid in served]
        while missing and time.monotonic() < deadline:
            missing = [rid for rid in missing if store.get_request(rid) is None]
            time.sleep(0.2)
        assert not missing, f"{len(missing)} of {len(served)} answered requests have no record"
    finally:
        store.close()
