"""Alerts: an injected error burst fires one signed webhook, and one more when it resolves."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import openai
import pytest

from headway.config.loader import parse_config
from headway.config.models import ModelConfig
from headway.config.observe import AlertRuleConfig
from headway.observe.alert_state import AlertStateStore
from headway.observe.alerts import AlertMeasurer, percentile
from headway.store.sql import SqlStore
from headway.testing import GatewayThread
from headway.types import RequestRecord
from tests.conftest import base_config
from tests.observe.helpers import samples, value

SECRET_BYTES = b"alert-test-secret-0123456789abcdef"
SECRET = "whsec_" + base64.b64encode(SECRET_BYTES).decode()


class Receiver:
    """A webhook receiver on 127.0.0.1 that keeps what it got."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def wait_for(self, count: int, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            assert time.monotonic() < deadline, f"got {len(self.received)} webhooks, wanted {count}"
            time.sleep(0.02)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


def signature_ok(headers: dict[str, str], body: bytes) -> bool:
    # Checked from the Standard Webhooks spec itself, not from Headway's own signer.
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = "v1," + base64.b64encode(hmac.new(SECRET_BYTES, signed, hashlib.sha256).digest()).decode()
    return expected in headers["webhook-signature"].split() and abs(time.time() - int(headers["webhook-timestamp"])) < 300


def test_error_burst_fires_once_and_resolves(sim: Any, tmp_path: Any, receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HW_TEST_ALERT_SECRET", SECRET)
    raw = base_config(
        sim.url,
        f"sqlite:///{tmp_path}/alerts.db",
        tmp_path / "spill",
        observe={
            "alerts": {
                "interval_s": 0.05,
                "rules": [{"name": "chat-errors", "kind": "error_rate", "threshold": 0.5, "window_s": 5.0, "min_requests": 3, "model": "chat", "severity": "critical"}],
                "webhooks": [{"url": receiver.url, "secret": "${HW_TEST_ALERT_SECRET}"}],
            }
        },
    )
    if "retries" in ModelConfig.model_fields:
        raw["models"]["chat"]["retries"] = {"max_retries": 0}
    with GatewayThread(parse_config(raw)) as gw:
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0)
        for _ in range(6):
            with pytest.raises(openai.APIStatusError):
                client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "burst [sim:fault=500]"}])
        receiver.wait_for(1)  # (through the outbox: under load this can take a while, hence the 5 s window)
        # Still failing while it fires: no second notification for the same incident.
        for _ in range(3):
            with pytest.raises(openai.APIStatusError):
                client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "more [sim:fault=500]"}])
        receiver.wait_for(2)  # resolves once the burst leaves the window
        time.sleep(0.3)  # a few more evaluations: nothing else may arrive
        assert len(receiver.received) == 2

        (fired_headers, fired_body), (resolved_headers, resolved_body) = receiver.received
        fired, resolved = json.loads(fired_body), json.loads(resolved_body)
        assert (fired["type"], resolved["type"]) == ("alert.firing", "alert.resolved")
        assert fired["data"]["incident_id"] == resolved["data"]["incident_id"]
        assert fired["data"]["rule"] == "chat-errors" and fired["data"]["severity"] == "critical"
        assert fired["data"]["value"] == 1.0 and fired["data"]["threshold"] == 0.5
        assert resolved["data"]["resolved_at"] >= fired["data"]["fired_at"]
        assert fired_headers["webhook-id"] != resolved_headers["webhook-id"]
        assert signature_ok(fired_headers, fired_body)
        assert signature_ok(resolved_headers, resolved_body)

        alerts = json.loads(urllib.request.urlopen(gw.url + "/admin/alerts").read())
        [rule] = alerts["rules"]
        assert rule["name"] == "chat-errors" and rule["state"] == "ok"
        [incident] = alerts["incidents"]
        assert incident["incident_id"] == fired["data"]["incident_id"] and incident["resolved_at"] is not None
        parsed = samples(urllib.request.urlopen(gw.url + "/metrics").read().decode())
        assert value(parsed, "headway_alert_notifications_total", rule="chat-errors", state="firing") == 1
        assert value(parsed, "headway_alert_notifications_total", rule="chat-errors", state="resolved") == 1
        assert value(parsed, "headway_alert_firing", rule="chat-errors") == 0


def _rule(**fields: Any) -> AlertRuleConfig:
    return AlertRuleConfig(**{"name": "r", "kind": "error_rate", "threshold": 0.5, "window_s": 60, "min_requests": 2, **fields})


def test_two_replicas_announce_a_transition_once(tmp_path: Any) -> None:
    store = SqlStore(f"sqlite:///{tmp_path}/replicas.db")
    store.migrate()
    one, two = AlertStateStore(store.database), AlertStateStore(store.database)
    rule = _rule()
    fired = [s.apply(rule, breaching=True, value=0.9, detail="d", now=100.0) for s in (one, two, one)]
    assert [t.state if t else None for t in fired] == ["firing", None, None]
    resolved = [s.apply(rule, breaching=False, value=0.1, detail="d", now=200.0) for s in (two, one)]
    assert [t.state if t else None for t in resolved] == ["resolved", None]
    assert resolved[0] is not None and fired[0] is not None
    assert resolved[0].incident.incident_id == fired[0].incident.incident_id
    refired = one.apply(rule, breaching=True, value=0.8, detail="d", now=300.0)
    assert refired is not None and refired.incident.incident_id != fired[0].incident.incident_id
    assert [i.resolved_at for i in one.incidents()] == [None, 200.0]
    store.close()


def test_measurements_over_the_request_log(tmp_path: Any) -> None:
    store = SqlStore(f"sqlite:///{tmp_path}/measure.db")
    store.migrate()
    now = 1_000_000.0

    def rec(i: int, status: int = 200, served_by: str = "primary", latency: float = 10.0, cost: float = 0.01, model: str = "a") -> RequestRecord:
        return RequestRecord(request_id=f"r{i}", endpoint="chat.completions", model=model, created_at=now - 10 - i,
                             status_code=status, served_by=served_by, latency_ms=latency, cost_usd=cost)

    store.write_requests(
        [rec(0, 502), rec(1, 503), rec(2), rec(3, served_by="fallback:b"), rec(4, served_by="cache"), rec(5, served_by="stale-cache"),
         rec(6, latency=1000.0), rec(7, model="other", status=500),
         RequestRecord(request_id="old", endpoint="chat.completions", model="a", created_at=now - 500, status_code=500)]
    )
    measurer = AlertMeasurer(store.database, review_backlog=lambda: (7, 42.0))
    assert measurer.measure(_rule(model="a"), now).value == pytest.approx(2 / 7)
    assert measurer.measure(_rule(), now).value == pytest.approx(3 / 8)
    assert measurer.measure(_rule(kind="fallback_rate", model="a"), now).value == pytest.approx(2 / 7)  # fallback + stale cache
    assert measurer.measure(_rule(kind="latency_p95", model="a"), now).value == 1000.0
    assert measurer.measure(_rule(kind="cost_per_hour", window_s=3600, model="a"), now).value == pytest.approx(0.07)
    assert measurer.measure(_rule(min_requests=100), now).value is None
    assert measurer.measure(_rule(kind="review_backlog"), now).value == 7
    assert measurer.measure(_rule(kind="review_backlog", measure="age_seconds"), now).value == 42.0
    # The pipelines part's table may be absent: no data, not an error.
    pipeline = measurer.measure(_rule(kind="pipeline_failures"), now)
    assert pipeline.value in (None, 0.0)
    assert AlertMeasurer(store.database).measure(_rule(kind="review_backlog"), now).value is None
    store.close()


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.95) == 95.0
    assert percentile(values, 0.5) == 50.0
    assert percentile([3.0], 0.99) == 3.0


def test_served_path_rules_over_the_request_log(tmp_path: Any) -> None:
    """fallback_rate counts answers not by the model asked for (retries and hedges are by it); degraded_rate only
    degraded answers; retrieval_failures the failed share of RAG requests; breaker_open the open breakers."""
    store = SqlStore(f"sqlite:///{tmp_path}/paths.db")
    store.migrate()
    now = 1_000_000.0

    def rec(i: int, served_by: str | None, status: int = 200, retrieval: str | None = None) -> RequestRecord:
        quality = {"retrieval": {"status": retrieval}} if retrieval else {}
        return RequestRecord(request_id=f"p{i}", endpoint="chat.completions", model="a", created_at=now - 10 - i,
                             status_code=status, served_by=served_by, quality=quality)

    store.write_requests([
        rec(0, "primary", retrieval="hit"), rec(1, "retry", retrieval="failed"), rec(2, "hedge"), rec(3, "fallback:b"),
        rec(4, "degraded", retrieval="failed"), rec(5, "stale-cache"), rec(6, "cache", retrieval="miss"), rec(7, None, 502),
    ])
    opened: list[str] = []
    measurer = AlertMeasurer(store.database, open_breakers=lambda: (len(opened), opened))
    assert measurer.measure(_rule(kind="fallback_rate"), now).value == pytest.approx(3 / 8)  # fallback, degraded, stale
    assert measurer.measure(_rule(kind="degraded_rate"), now).value == pytest.approx(1 / 8)
    retrieval = measurer.measure(_rule(kind="retrieval_failures"), now)
    assert retrieval.value == pytest.approx(2 / 4) and "4 requests" in retrieval.detail  # only RAG requests count
    assert measurer.measure(_rule(kind="retrieval_failures", min_requests=5), now).value is None
    rule = _rule(kind="breaker_open", threshold=0)
    assert measurer.measure(rule, now).value == 0.0
    opened.append("chat/sim/gpt-4o-mini")
    measured = measurer.measure(rule, now)
    assert measured.value == 1.0 and "chat/sim/gpt-4o-mini" in measured.detail
    assert AlertMeasurer(store.database).measure(rule, now).value is None  # breaker states unknown: no data
    # Nothing failed in the pipelines part: zero, measured (the table is migrated with the store).
    assert measurer.measure(_rule(kind="pipeline_failures"), now).value == 0.0
    store.close()
