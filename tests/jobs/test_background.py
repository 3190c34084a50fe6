"""Background requests end to end: answered by poll, by wait and by signed webhook; cancelled jobs stop."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from headway.config.models import HeadwayConfig
from headway.observe.webhooks import verify
from headway.testing import GatewayThread
from tests.auth.conftest import ADMIN, bearer, create_key, secure_auth
from tests.http import post_json, request
from tests.jobs.conftest import WEBHOOK_SECRET, sim_requests, wait_until


def ask(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": "chat", "messages": [{"role": "user", "content": text}], **extra}


def job_of(gw: GatewayThread, job_id: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    reply = request("GET", f"{gw.url}/v1/jobs/{job_id}", headers=headers or {})
    assert reply.status == 200, reply.body
    return reply.json()


def test_prefer_respond_async_answers_202_then_poll_gives_the_completion(jobs_gateway: GatewayThread, jobs_sim: Any) -> None:
    marker = f"poll-{uuid.uuid4().hex[:8]}"
    reply = post_json(f"{jobs_gateway.url}/v1/chat/completions", ask(marker), {"prefer": "respond-async"})
    assert reply.status == 202
    accepted = reply.json()
    assert accepted["object"] == "job" and accepted["status"] in ("queued", "in_progress")
    assert reply.headers["location"] == accepted["status_url"] == f"{jobs_gateway.url}/v1/jobs/{accepted['id']}"
    assert reply.headers["preference-applied"] == "respond-async"
    job = wait_until(lambda: (j := job_of(jobs_gateway, accepted["id"]))["status"] == "completed" and j)
    completion = job["result"]
    assert completion["object"] == "chat.completion"
    assert completion["choices"][0]["message"]["content"].startswith(f"Simulated reply to: {marker}")
    assert job["status_code"] == 200 and job["attempts"] == 1 and job["cost_usd"] > 0
    # It ran through the normal request path: one request record, under the submitting request's id.
    record = jobs_gateway.record(job["request_id"])
    assert record.status_code == 200 and record.endpoint == "chat.completions"
    assert record.request_id == reply.headers["x-request-id"]
    assert len(sim_requests(jobs_sim, marker)) == 1


def test_background_field_and_blocking_wait(jobs_gateway: GatewayThread) -> None:
    reply = post_json(f"{jobs_gateway.url}/v1/chat/completions", ask("wait for me [sim:latency_ms=200]", background=True))
    assert reply.status == 202
    job_id = reply.json()["id"]
    waited = request("GET", f"{jobs_gateway.url}/v1/jobs/{job_id}", headers={"prefer": "wait=20"})
    assert waited.status == 200
    assert waited.json()["status"] == "completed"
    assert waited.json()["result"]["choices"][0]["message"]["content"].startswith("Simulated reply to: wait for me")


def test_respond_async_with_wait_answers_in_full_when_done_in_time(jobs_gateway: GatewayThread) -> None:
    reply = post_json(f"{jobs_gateway.url}/v1/chat/completions", ask("quick one"), {"prefer": "respond-async, wait=20"})
    assert reply.status == 200
    assert reply.json()["object"] == "chat.completion"
    assert reply.headers["x-headway-job-id"].startswith("job_")
    assert reply.headers["preference-applied"] == "respond-async, wait=20"


class _Receiver:
    """A webhook receiver on 127.0.0.1 that keeps what it got."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                outer.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    hook = _Receiver()
    yield hook
    hook.close()


def test_signed_webhook_delivers_the_finished_job(jobs_gateway: GatewayThread, receiver: _Receiver) -> None:
    body = ask("hook me", metadata={"webhook_url": receiver.url, "ticket": "T-1"})
    reply = post_json(f"{jobs_gateway.url}/v1/chat/completions", body, {"prefer": "respond-async"})
    assert reply.status == 202
    job_id = reply.json()["id"]
    headers, raw = wait_until(lambda: receiver.received and receiver.received[0])
    verify(WEBHOOK_SECRET, headers, raw)  # raises unless signed with the configured secret
    event = json.loads(raw)
    assert event["type"] == "job.completed"
    assert event["data"]["id"] == job_id and event["data"]["result"]["object"] == "chat.completion"
    assert headers["webhook-id"] == f"{job_id}.completed"
    assert event["data"]["metadata"] == {"ticket": "T-1"}  # the webhook URL itself never reaches the model
    job = wait_until(lambda: (j := job_of(jobs_gateway, job_id))["webhook"]["status"] == "delivered" and j)
    assert job["webhook"]["attempts"] == 1


def test_cancelling_a_running_job_stops_its_upstream_call(jobs_gateway: GatewayThread, jobs_sim: Any) -> None:
    marker = f"cancel-{uuid.uuid4().hex[:8]}"
    reply = post_json(f"{jobs_gateway.url}/v1/chat/completions", ask(f"{marker} [sim:latency_ms=5000]", background=True))
    job_id = reply.json()["id"]
    wait_until(lambda: sim_requests(jobs_sim, marker))  # the call is at the simulator
    cancelled = post_json(f"{jobs_gateway.url}/v1/jobs/{job_id}/cancel", {})
    assert cancelled.status == 200 and cancelled.json()["status"] in ("cancelling", "cancelled")
    job = wait_until(lambda: (j := job_of(jobs_gateway, job_id))["status"] == "cancelled" and j)
    assert job["result"] is None
    # The simulator saw the client go away: the call was cut, not left to finish.
    seen = wait_until(lambda: [r for r in sim_requests(jobs_sim, marker) if r["status"] is not None])
    assert [r["status"] for r in seen] == ["client_closed"]
    again = post_json(f"{jobs_gateway.url}/v1/jobs/{job_id}/cancel", {})
    assert again.status == 400 and again.json()["error"]["code"] == "job_not_cancellable"


def test_a_cancelled_queued_job_never_runs(jobs_config: Callable[..., HeadwayConfig], jobs_sim: Any) -> None:
    marker = f"queued-{uuid.uuid4().hex[:8]}"
    with GatewayThread(jobs_config(jobs={"worker": False})) as front:
        reply = post_json(f"{front.url}/v1/chat/completions", ask(marker, background=True))
        job_id = reply.json()["id"]
        assert job_of(front, job_id)["status"] == "queued"
        assert post_json(f"{front.url}/v1/jobs/{job_id}/cancel", {}).json()["status"] == "cancelled"
    with GatewayThread(jobs_config()) as worker:  # a gateway with a worker, on the same store
        later = post_json(f"{worker.url}/v1/chat/completions", ask("after the cancel"), {"prefer": "respond-async, wait=20"})
        assert later.status == 200  # the worker is claiming jobs...
        assert job_of(worker, job_id)["status"] == "cancelled"  # ...and never took the cancelled one
    assert sim_requests(jobs_sim, marker) == []


def test_refused_up_front(jobs_gateway: GatewayThread) -> None:
    url = f"{jobs_gateway.url}/v1/chat/completions"
    streamed = post_json(url, ask("x", stream=True), {"prefer": "respond-async"})
    assert streamed.status == 400 and streamed.json()["error"]["param"] == "stream"
    unknown = post_json(url, {**ask("x"), "model": "no-such-model"}, {"prefer": "respond-async"})
    assert unknown.status == 404 and unknown.json()["error"]["code"] == "model_not_found"
    bad_hook = post_json(url, ask("x", webhook="file:///etc/passwd"), {"prefer": "respond-async"})
    assert bad_hook.status == 400 and bad_hook.json()["error"]["code"] == "invalid_webhook"
    missing = request("GET", f"{jobs_gateway.url}/v1/jobs/job_doesnotexist")
    assert missing.status == 404 and missing.json()["error"]["code"] == "job_not_found"


def test_webhooks_need_a_secret(jobs_config: Callable[..., HeadwayConfig]) -> None:
    with GatewayThread(jobs_config(jobs={"webhook_secret": None})) as gw:
        reply = post_json(f"{gw.url}/v1/chat/completions", ask("x", webhook="http://127.0.0.1:1/h"), {"prefer": "respond-async"})
        assert reply.status == 400 and reply.json()["error"]["code"] == "webhooks_disabled"


def test_only_the_submitter_reads_or_cancels(jobs_config: Callable[..., HeadwayConfig]) -> None:
    with GatewayThread(jobs_config(auth=secure_auth())) as gw:
        # Admin roles: the jobs routes are admins-only until the permission map names them.
        _, alice = create_key(gw, principal="alice", roles=["admin"])
        _, bob = create_key(gw, principal="bob", roles=["admin"])
        reply = post_json(f"{gw.url}/v1/chat/completions", ask("mine", background=True), bearer(alice))
        job_id = reply.json()["id"]
        assert request("GET", f"{gw.url}/v1/jobs/{job_id}", headers=bearer(alice)).status == 200
        assert request("GET", f"{gw.url}/v1/jobs/{job_id}", headers=bearer(bob)).status == 404
        assert post_json(f"{gw.url}/v1/jobs/{job_id}/cancel", {}, bearer(bob)).status == 404
        assert request("GET", f"{gw.url}/v1/jobs/{job_id}", headers=ADMIN).status == 404
        listed = request("GET", f"{gw.url}/v1/jobs", headers=bearer(alice)).json()
        assert [j["id"] for j in listed["data"]] == [job_id]
        assert request("GET", f"{gw.url}/v1/jobs", headers=bearer(bob)).json()["data"] == []
