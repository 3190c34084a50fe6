"""A worker killed mid-batch: the next worker finishes it, and every line is answered exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from headway.config.loader import parse_config
from headway.testing import GatewayThread
from tests.jobs.conftest import (
    ENV,
    chat_line,
    client,
    finished_batch,
    jobs_raw_config,
    jsonl,
    sim_requests,
    upload,
    wait_until,
)

LINES = 10
SLOW = 4  # the line in flight when its worker dies


@pytest.fixture
def worker_config(jobs_sim: Any, tmp_path: Path, store_url: str) -> Iterator[tuple[Path, dict[str, Any]]]:
    # One line at a time, a short lease: a dead worker's batch is free again within three seconds.
    raw = jobs_raw_config(jobs_sim.url, store_url, tmp_path, jobs={"lease_s": 3.0, "worker": False, "batch": {"max_concurrency": 1}})
    path = tmp_path / "worker.yaml"
    path.write_text(yaml.safe_dump(raw))
    yield path, raw


def start_worker(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "headway", "worker", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **ENV, "PYTHONUNBUFFERED": "1"},
        )


@pytest.mark.slow
def test_killed_worker_batch_completes_with_every_line_answered_once(
    worker_config: tuple[Path, dict[str, Any]], jobs_sim: Any, tmp_path: Path
) -> None:
    path, raw = worker_config
    tag = uuid.uuid4().hex[:8]
    logs = [tmp_path / "worker-a.log", tmp_path / "worker-b.log"]
    workers = [start_worker(path, log) for log in logs]
    try:
        with GatewayThread(parse_config(raw, env=ENV)) as front:  # HTTP only: the workers are processes
            # Both workers idle and polling before there is work, so either may take the batch.
            wait_until(lambda: all("headway worker" in log.read_text() for log in logs), timeout=90, interval=0.1)
            sdk = client(front)
            # One line is slow: the worker is killed while that line waits at the simulator.
            lines = [chat_line(f"k{i}", f"{tag} line k{i} [sim:latency_ms={3000 if i == SLOW else 100}]") for i in range(LINES)]
            file_id = upload(sdk, lines)
            created = sdk.batches.create(input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h")
            wait_until(lambda: [r for r in sim_requests(jobs_sim, f"{tag} line k{SLOW} ") if r["status"] is None], timeout=60)
            jobs = front.runtime.jobs
            assert jobs is not None
            owner = jobs.batch_store.get(created.id).lease_owner  # type: ignore[union-attr]
            running = next(w for w in workers if owner is not None and f":{w.pid}:" in owner)
            running.send_signal(signal.SIGKILL)
            running.wait(10)
            killed_at = sdk.batches.retrieve(created.id)
            assert killed_at.status == "in_progress"
            assert killed_at.request_counts is not None and killed_at.request_counts.completed == SLOW

            batch = finished_batch(sdk, created.id, timeout=60)
            output = jsonl(sdk.files.content(batch.output_file_id).text) if batch.output_file_id else []
            taker = jobs.batch_store.get(created.id)
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
                worker.wait(15)

    assert batch.status == "completed", [log.read_text() for log in logs]
    assert taker is not None and taker.attempts >= 2  # claimed again after the kill
    assert batch.request_counts is not None
    assert (batch.request_counts.completed, batch.request_counts.failed) == (LINES, 0)
    assert Counter(row["custom_id"] for row in output) == Counter(f"k{i}" for i in range(LINES))
    # At the simulator: every line answered exactly once; the one cut by the kill never answered.
    received = sim_requests(jobs_sim, tag)
    answered = Counter(r["body"]["messages"][-1]["content"].split()[2] for r in received if r["status"] == 200)
    assert answered == Counter(f"k{i}" for i in range(LINES))
    cut = [(r["status"], r["body"]["messages"][-1]["content"].split()[2]) for r in received if r["status"] != 200]
    assert cut == [("client_closed", f"k{SLOW}")]
    survivor = next(w for w in workers if w is not running)
    assert survivor.returncode == 0  # it shut down cleanly on SIGTERM
