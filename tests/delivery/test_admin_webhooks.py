"""``/admin/webhooks`` and the outbox's metrics on a live gateway: a refused job webhook is dead,
listed, resent and delivered; bad input is a precise 4xx; the gauges say "not ok" while a
delivery waits and "ok" once it is through; a batch's end reaches its webhook."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from headway.config.loader import parse_config
from headway.testing import GatewayThread
from tests.conftest import base_config
from tests.delivery.conftest import SECRET, Receiver
from tests.http import post_json, request
from tests.jobs.conftest import chat_line, client, finished_batch, jobs_sim, upload, wait_until  # noqa: F401  (fixture)

FAST = {"poll_interval_s": 0.05, "backoff_base_s": 0.2, "backoff_max_s": 0.5, "jitter": 0.0, "retry_window_s": 600}


@pytest.fixture
def gateway(jobs_sim: Any, tmp_path: Path, store_url: str) -> Iterator[GatewayThread]:  # noqa: F811
    raw = base_config(
        jobs_sim.url, store_url, tmp_path / "spill",
        jobs={"poll_interval_s": 0.1, "webhook_secret": "${JOBS_WEBHOOK_SECRET}"}, webhooks=FAST,
    )
    with GatewayThread(parse_config(raw, env={"JOBS_WEBHOOK_SECRET": SECRET})) as gw:
        yield gw


def submit(gw: GatewayThread, receiver: Receiver, text: str) -> str:
    body = {"model": "chat", "messages": [{"role": "user", "content": text}], "webhook": receiver.url}
    reply = post_json(f"{gw.url}/v1/chat/completions", body, {"prefer": "respond-async"})
    assert reply.status == 202, reply.body
    return str(reply.json()["id"])


def listing(gw: GatewayThread, query: str = "") -> dict[str, Any]:
    reply = request("GET", f"{gw.url}/admin/webhooks{query}")
    assert reply.status == 200, reply.body
    return reply.json()


def metric(gw: GatewayThread, name: str, labels: str = "") -> float:
    text = request("GET", f"{gw.url}/metrics").body.decode()
    found = re.search(rf"^{name}{re.escape(labels)} (\S+)$", text, re.M)
    assert found, f"{name}{labels} not on /metrics"
    return float(found.group(1))


def test_a_dead_delivery_is_listed_resent_and_delivered(gateway: GatewayThread, receiver: Receiver) -> None:
    receiver.status = 410  # the receiver refuses: dead at once, no retries
    job_id = submit(gateway, receiver, "refused hook")
    dead = wait_until(lambda: listing(gateway, "?state=dead&source=job")["data"], timeout=30)
    assert len(dead) == 1
    entry = dead[0]
    assert entry["webhook_id"] == f"{job_id}.completed" and entry["receiver"] == "jobs" and entry["last_status"] == 410
    assert entry["payload"]["data"]["id"] == job_id and entry["event_type"] == "job.completed"
    assert "secret" not in str(entry).lower() and SECRET not in str(entry)
    job = request("GET", f"{gateway.url}/v1/jobs/{job_id}").json()
    assert job["webhook"]["status"] == "failed" and job["webhook"]["attempts"] == 1
    assert metric(gateway, "headway_webhook_outbox_dead") == 1
    assert metric(gateway, "headway_webhook_deliveries_total", '{outcome="dead"}') == 1

    receiver.status = 200
    resent = post_json(f"{gateway.url}/admin/webhooks/{entry['id']}/resend", {})
    assert resent.status == 200 and resent.json()["state"] in ("pending", "sending", "delivered")  # the worker is woken at once
    wait_until(lambda: listing(gateway, "?state=delivered")["data"], timeout=30)
    assert [h.webhook_id for h in receiver.accepted()] == [f"{job_id}.completed"]
    assert request("GET", f"{gateway.url}/v1/jobs/{job_id}").json()["webhook"]["status"] == "delivered"
    again = post_json(f"{gateway.url}/admin/webhooks/{entry['id']}/resend", {})
    assert again.status == 200, "a delivered one may be sent again on purpose (same webhook-id)"


def test_resend_all_failed_with_filters_and_the_backlog_gauges(gateway: GatewayThread, receiver: Receiver) -> None:
    receiver.stop()  # down: deliveries wait and retry
    jobs = [submit(gateway, receiver, f"hook {i}") for i in range(3)]
    wait_until(lambda: len(listing(gateway, "?state=pending")["data"]) == 3 and metric(gateway, "headway_webhook_outbox_pending") == 3, timeout=30)
    wait_until(lambda: metric(gateway, "headway_webhook_outbox_oldest_age_seconds") > 0.5, timeout=10)
    assert metric(gateway, "headway_webhook_deliveries_total", '{outcome="failed"}') >= 1
    # Three subjects, newest first, two per page.
    first = listing(gateway, "?limit=2")
    assert first["has_more"] and len(first["data"]) == 2 and first["next_cursor"]
    rest = listing(gateway, f"?limit=2&after={first['next_cursor']}")
    assert not rest["has_more"] and len(rest["data"]) == 1
    assert {e["subject"] for e in first["data"] + rest["data"]} == set(jobs)
    assert listing(gateway, "?event_type=job.failed")["data"] == []
    assert len(listing(gateway, "?receiver=jobs&event_type=job.completed")["data"]) == 3

    receiver.start()
    wait_until(lambda: metric(gateway, "headway_webhook_outbox_pending") == 0, timeout=30)
    assert metric(gateway, "headway_webhook_outbox_oldest_age_seconds") == 0
    assert sorted(h.webhook_id for h in receiver.accepted()) == sorted(f"{j}.completed" for j in jobs)
    # Nothing dead: resending all failed finds none; a filter that matches nothing is fine too.
    assert post_json(f"{gateway.url}/admin/webhooks/resend", {}).json()["resent"] == 0
    assert request("POST", f"{gateway.url}/admin/webhooks/resend").json()["resent"] == 0


def test_bad_input_is_a_precise_4xx(gateway: GatewayThread) -> None:
    def error(reply: Any) -> dict[str, Any]:
        return reply.json()["error"]

    bad_state = request("GET", f"{gateway.url}/admin/webhooks?state=lost")
    assert bad_state.status == 400 and error(bad_state)["param"] == "state"
    bad_cursor = request("GET", f"{gateway.url}/admin/webhooks?after=abc")
    assert bad_cursor.status == 400 and error(bad_cursor)["param"] == "after"
    assert request("GET", f"{gateway.url}/admin/webhooks?limit=0").status == 400
    missing = post_json(f"{gateway.url}/admin/webhooks/whd_missing/resend", {})
    assert missing.status == 404 and error(missing)["code"] == "webhook_not_found"
    unknown = post_json(f"{gateway.url}/admin/webhooks/resend", {"colour": "red"})
    assert unknown.status == 400 and error(unknown)["param"] == "colour"
    typed = post_json(f"{gateway.url}/admin/webhooks/resend", {"source": 3})
    assert typed.status == 400 and error(typed)["param"] == "source"
    nul = post_json(f"{gateway.url}/admin/webhooks/resend", {"subject": "rev\u0000x"})  # PostgreSQL text refuses NUL
    assert nul.status == 400 and error(nul)["param"] == "subject"
    not_json = request("POST", f"{gateway.url}/admin/webhooks/resend", b"{", {"content-type": "application/json"})
    assert not_json.status == 400 and error(not_json)["code"] == "invalid_json"


def test_a_pending_delivery_cannot_be_resent(gateway: GatewayThread, receiver: Receiver) -> None:
    receiver.stop()
    submit(gateway, receiver, "still pending")
    pending = wait_until(lambda: listing(gateway, "?state=pending")["data"], timeout=30)
    conflict = post_json(f"{gateway.url}/admin/webhooks/{pending[0]['id']}/resend", {})
    assert conflict.status == 409 and conflict.json()["error"]["code"] == "webhook_pending"


def test_a_batch_tells_its_webhook_when_it_ends(gateway: GatewayThread, receiver: Receiver) -> None:
    sdk = client(gateway)
    file_id = upload(sdk, [chat_line(f"b{i}", f"batch hook line {i}") for i in range(3)])
    created = sdk.batches.create(
        input_file_id=file_id, endpoint="/v1/chat/completions", completion_window="24h", metadata={"webhook_url": receiver.url}
    )
    finished = finished_batch(sdk, created.id)
    assert finished.status == "completed"
    wait_until(lambda: receiver.accepted(), timeout=30)
    [hit] = receiver.accepted()
    event = hit.json()
    assert hit.webhook_id == f"{created.id}.completed" and event["type"] == "batch.completed"
    assert event["data"]["id"] == created.id and event["data"]["request_counts"]["completed"] == 3
    listed = listing(gateway, f"?subject={created.id}")["data"]
    assert [e["source"] for e in listed] == ["batch"]
    refused = post_json(f"{gateway.url}/v1/batches", {"input_file_id": file_id, "endpoint": "/v1/chat/completions",
                                                      "completion_window": "24h", "metadata": {"webhook_url": "file:///etc/passwd"}})
    assert refused.status == 400 and refused.json()["error"]["code"] == "invalid_webhook"
