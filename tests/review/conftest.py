"""Gateways with review policies, a signed-webhook receiver on loopback, and small HTTP helpers."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest

from headway.config.loader import parse_config
from headway.config.models import HeadwayConfig
from headway.testing import GatewayThread
from tests.conftest import base_config
from tests.http import Reply, post_json, request

T = TypeVar("T")

WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"headway-review-tests-signing-key").decode()
CONSEQUENTIAL = {"consequential": "true"}


def review_section(**overrides: Any) -> dict[str, Any]:
    """Policies the tests share: ``consequential`` holds (team risk, escalates to risk-leads); claude is audited."""
    section: dict[str, Any] = {
        "policies": {
            "consequential": {
                "match": {"metadata": {"consequential": True}},
                "sla_s": 600,
                "reviewers": {"team": "risk", "roles": ["reviewer"]},
                "escalation": {"team": "risk-leads", "roles": ["reviewer"], "sla_s": 600},
            },
            "claude-audit": {"match": {"models": ["claude"]}, "action": "audit", "sla_s": 600},
        },
        "webhook_secret": "${HW_TEST_REVIEW_SECRET:-" + WEBHOOK_SECRET + "}",
        "caller_webhook_urls": ["http://127.0.0.1:*"],
        "poll_interval_ms": 50,
        "sweep_interval_s": 0.2,
    }
    section.update(overrides)
    return section


def review_config(sim_url: str, directory: Path, **sections: Any) -> HeadwayConfig:
    sections.setdefault("review", review_section())
    return parse_config(base_config(sim_url, f"sqlite:///{directory}/headway.db", directory / "spill", **sections))


@pytest.fixture(scope="module")
def review_gateway(sim: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayThread]:
    with GatewayThread(review_config(sim.url, tmp_path_factory.mktemp("review"))) as gw:
        yield gw


def eventually(check: Callable[[], T | None], timeout: float = 10.0, what: str = "condition") -> T:
    """Poll ``check`` until it returns something truthy (state that changes in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout}s")
        time.sleep(0.02)


def chat(gw: GatewayThread, content: str, *, model: str = "chat", metadata: dict[str, Any] | None = None,
         headers: dict[str, str] | None = None, **extra: Any) -> Reply:
    body = {"model": model, "messages": [{"role": "user", "content": content}], **extra}
    if metadata is not None:
        body["metadata"] = metadata
    return post_json(gw.url + "/v1/chat/completions", body, headers)


def with_ticket(headers: dict[str, str] | None) -> dict[str, str]:
    """Opt in to the 202 ticket (``Prefer: review=ticket``), keeping any other preference (``wait=N``)."""
    merged = {k.lower(): v for k, v in (headers or {}).items()}
    merged["prefer"] = ", ".join(p for p in (merged.get("prefer"), "review=ticket") if p)
    return merged


def hold(gw: GatewayThread, content: str, **kwargs: Any) -> tuple[str, Reply]:
    """A held request whose caller opted in to the 202 ticket."""
    metadata = {**CONSEQUENTIAL, **kwargs.pop("metadata", {})}
    kwargs["headers"] = with_ticket(kwargs.get("headers"))
    reply = chat(gw, content, metadata=metadata, **kwargs)
    assert reply.status == 202, reply.body
    return reply.json()["id"], reply


def admin(gw: GatewayThread, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Reply:
    data = json.dumps(body).encode() if body is not None else None
    extra = {"content-type": "application/json"} if data is not None else {}
    return request(method, gw.url + path, data, {**extra, **(headers or {})})


def item(gw: GatewayThread, review_id: str) -> dict[str, Any]:
    reply = admin(gw, "GET", f"/admin/reviews/{review_id}")
    assert reply.status == 200, reply.body
    result: dict[str, Any] = reply.json()
    return result


def decide(gw: GatewayThread, review_id: str, decision: str, **fields: Any) -> Reply:
    return admin(gw, "POST", f"/admin/reviews/{review_id}/decide", {"decision": decision, **fields})


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    url: str
    deliveries: list[Delivery] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def record(self, delivery: Delivery) -> None:
        with self.arrived:
            self.deliveries.append(delivery)
            self.arrived.notify_all()

    def for_review(self, review_id: str, timeout: float = 10.0) -> Delivery:
        def find() -> Delivery | None:
            return next((d for d in self.deliveries if d.json()["data"]["id"] == review_id), None)

        with self.arrived:
            if not self.arrived.wait_for(find, timeout):
                raise AssertionError(f"no webhook for {review_id} within {timeout}s")
            found = find()
            assert found is not None
            return found


@pytest.fixture(scope="module")
def webhooks() -> Iterator[WebhookReceiver]:
    receiver: WebhookReceiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            receiver.record(Delivery({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver = WebhookReceiver(f"http://127.0.0.1:{server.server_address[1]}/hooks/review")
    thread = threading.Thread(target=server.serve_forever, name="review-webhook-receiver", daemon=True)
    thread.start()
    yield receiver
    server.shutdown()
    server.server_close()
