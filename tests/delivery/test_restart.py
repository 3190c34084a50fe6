"""A gateway killed while its webhooks are being retried: the next gateway process delivers every one.

Real processes (``headway serve``), a real store, a receiver on 127.0.0.1 that is down
while the first gateway retries and up when the second one starts. The retry schedule is
configured short (``webhooks:``) so the test takes seconds; the default retries for a day.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from headway.store.outbox import DELIVERED, PENDING, Outbox, OutboxQuery
from headway.store.sql import SqlStore
from headway.testing import free_port
from tests.conftest import base_config
from tests.delivery.conftest import SECRET, Receiver
from tests.http import post_json, request
from tests.jobs.conftest import jobs_sim, wait_until  # noqa: F401  (fixture)

SHORT = {"poll_interval_s": 0.1, "backoff_base_s": 0.3, "backoff_max_s": 1.0, "jitter": 0.1, "retry_window_s": 600, "lease_s": 2}


def serve(config: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "headway", "serve", "--config", str(config), "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "JOBS_WEBHOOK_SECRET": SECRET, "PYTHONUNBUFFERED": "1"},
        )


def healthy(port: int) -> bool:
    try:
        return request("GET", f"http://127.0.0.1:{port}/healthz").status == 200
    except OSError:
        return False


@pytest.mark.slow
def test_a_gateway_restart_mid_retry_loses_no_webhook(jobs_sim: Any, tmp_path: Path, store_url: str) -> None:  # noqa: F811
    receiver = Receiver()  # not started: connection refused while the first gateway retries
    raw = base_config(
        jobs_sim.url, store_url, tmp_path / "spill",
        jobs={"poll_interval_s": 0.1, "webhook_secret": "${JOBS_WEBHOOK_SECRET}"}, webhooks=SHORT,
    )
    config = tmp_path / "headway.yaml"
    config.write_text(yaml.safe_dump(raw))
    store = SqlStore(store_url)
    outbox = Outbox(store.database)
    first_port, second_port = free_port(), free_port()
    first = serve(config, first_port, tmp_path / "first.log")
    second: subprocess.Popen[bytes] | None = None
    try:
        wait_until(lambda: healthy(first_port), timeout=90, interval=0.2)
        jobs = []
        for index in range(4):
            body = {"model": "chat", "messages": [{"role": "user", "content": f"restart {index}"}], "webhook": receiver.url}
            reply = post_json(f"http://127.0.0.1:{first_port}/v1/chat/completions", body, {"prefer": "respond-async"})
            assert reply.status == 202, reply.body
            jobs.append(reply.json()["id"])

        def retrying() -> bool:
            pending = outbox.search(OutboxQuery(states=(PENDING, "sending"), limit=50))
            return len(pending) == 4 and all(e.attempts >= 2 for e in pending)

        wait_until(retrying, timeout=60, interval=0.1)
        first.send_signal(signal.SIGKILL)  # mid-retry: leases held, nothing handed back
        first.wait(10)
        receiver.start()
        second = serve(config, second_port, tmp_path / "second.log")
        wait_until(lambda: len(outbox.search(OutboxQuery(states=(DELIVERED,), limit=50))) == 4, timeout=90, interval=0.2)
        accepted = receiver.accepted()  # signatures verified, de-duplicated on webhook-id
        assert sorted(h.webhook_id for h in accepted) == sorted(f"{job}.completed" for job in jobs)
        assert {h.json()["data"]["id"] for h in accepted} == set(jobs)
        assert len(receiver.hits) == 4, "each delivered exactly once after the restart"
        owners = {e.lease_owner for e in outbox.search(OutboxQuery(limit=50))}
        assert owners == {None}
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    process.kill()
        receiver.stop()
        store.close()
