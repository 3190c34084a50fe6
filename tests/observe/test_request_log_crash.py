"""No acknowledged request without a record, even under SIGKILL: a real ``headway serve`` under
bounded load on 127.0.0.1 is killed mid-load and restarted; every response a client received
whole has its row. The flush interval is long (2 s), so records that lived only in memory
would surely be lost: the crash segment is what carries them."""

from __future__ import annotations

import concurrent.futures
import http.client
import json
import signal
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from headway.cli.replicas import ReplicaSet, scratch_database
from headway.store import open_store
from tests.scale.conftest import replica_config

pytestmark = pytest.mark.slow


def ask(url: str, n: int) -> str | None:
    """One chat request, every third one streamed; the request id if the response arrived whole."""
    stream = n % 3 == 0
    body = {"model": "chat", "messages": [{"role": "user", "content": f"crash {n}"}], "max_tokens": 8, "stream": stream}
    request = urllib.request.Request(
        url + "/v1/chat/completions", data=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            payload = response.read()  # to the last byte (the chunked terminator for a stream)
            request_id = response.headers["x-request-id"]
    except (OSError, http.client.HTTPException):  # URLError is an OSError; IncompleteRead is not
        return None  # cut by the kill: not acknowledged
    if stream and not payload.rstrip().endswith(b"data: [DONE]"):
        return None
    return str(request_id)


@contextmanager
def store_for(kind: str, workdir: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{workdir}/headway.db"
        return
    with scratch_database(prefix="hw_test_crash_") as url:
        yield url


def missing_rows(store_url: str, ids: list[str], timeout: float) -> list[str]:
    store = open_store(store_url)
    try:
        deadline, missing = time.monotonic() + timeout, list(ids)
        while missing and time.monotonic() < deadline:
            missing = [rid for rid in missing if store.get_request(rid) is None]
            time.sleep(0.2)
        return missing
    finally:
        store.close()


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_sigkill_under_load_loses_no_acknowledged_record(sim: Any, tmp_path: Path, kind: str) -> None:
    with store_for(kind, tmp_path) as store_url:
        config = replica_config(sim.url, store_url, request_log={"flush_interval_ms": 2000, "batch_size": 10_000, "drain_at": 10_000})
        with ReplicaSet(config, replicas=1, workdir=tmp_path) as replicas:
            url = replicas.replica_url(0)
            acknowledged: list[str] = []
            lock, killed = threading.Lock(), threading.Event()
            counter = iter(range(600))  # bounded: at most 600 requests

            def client() -> None:
                for n in counter:
                    request_id = ask(url, n)
                    if request_id is not None:
                        with lock:
                            acknowledged.append(request_id)
                    if killed.is_set():
                        return

            with concurrent.futures.ThreadPoolExecutor(6) as pool:
                futures = [pool.submit(client) for _ in range(6)]
                deadline = time.monotonic() + 60
                while len(acknowledged) < 150 and time.monotonic() < deadline:
                    time.sleep(0.01)
                code = replicas.stop_replica(0, signal.SIGKILL)  # mid-load: requests are in flight
                killed.set()
                for future in futures:
                    future.result(timeout=60)
            assert code == -signal.SIGKILL
            assert len(acknowledged) >= 150
            # Before the restart, the dead process's records sit in its crash segment, not the store.
            assert any(p.stat().st_size for p in (tmp_path / "spill-0").glob("requests-*.wal"))
            # ...and not all in the store: what the restart brings back came from the segment.
            assert missing_rows(store_url, acknowledged, timeout=0.5)
            replicas.start_replica(0)
            missing = missing_rows(store_url, acknowledged, timeout=30)
            assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged requests have no record"
