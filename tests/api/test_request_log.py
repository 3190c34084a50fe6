"""Every request is on record — tokens and cost from the provider's usage — and records survive a store outage."""

from __future__ import annotations

import json
import time
from pathlib import Path

import openai
import pytest

from headway.config.loader import parse_config
from headway.store import RequestQuery, open_store
from headway.testing import GatewayThread
from tests.conftest import base_config
from tests.http import request


def sdk(gw: GatewayThread) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key="unused", max_retries=0)


def test_record_matches_simulator_usage_and_price(gateway: GatewayThread) -> None:
    raw = sdk(gateway).chat.completions.with_raw_response.create(
        model="chat", messages=[{"role": "user", "content": "price this please"}]
    )
    completion = raw.parse()
    gateway.flush()
    record = gateway.runtime.store.get_request(raw.headers["x-request-id"])
    assert record is not None
    assert record.model == "chat" and record.endpoint == "chat.completions"
    assert record.status_code == 200 and record.served_by == "primary"
    assert record.input_tokens == completion.usage.prompt_tokens  # type: ignore[union-attr]
    assert record.output_tokens == completion.usage.completion_tokens  # type: ignore[union-attr]
    expected = (record.input_tokens * 0.15 + record.output_tokens * 0.60) / 1_000_000
    assert record.cost_usd == pytest.approx(expected, rel=1e-9)
    assert record.latency_ms > 0 and record.caller == "anonymous"
    assert [(a.deployment, a.outcome, a.status) for a in record.attempts] == [("sim/gpt-4o-mini", "ok", 200)]


def test_streamed_record_has_usage_and_time_to_first_token(gateway: GatewayThread) -> None:
    stream = sdk(gateway).chat.completions.with_raw_response.create(
        model="chat", messages=[{"role": "user", "content": "stream and count"}], stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream.parse())
    usage = chunks[-1].usage
    record = gateway.record(stream.headers["x-request-id"])
    assert record.stream
    assert (record.input_tokens, record.output_tokens) == (usage.prompt_tokens, usage.completion_tokens)  # type: ignore[union-attr]
    assert record.ttft_ms is not None and 0 < record.ttft_ms <= record.latency_ms
    assert record.cost_usd == pytest.approx((usage.prompt_tokens * 0.15 + usage.completion_tokens * 0.60) / 1e6)  # type: ignore[union-attr]


def test_anthropic_record_is_priced_from_translated_usage(gateway: GatewayThread) -> None:
    raw = sdk(gateway).chat.completions.with_raw_response.create(
        model="claude", messages=[{"role": "user", "content": "anthropic usage"}]
    )
    usage = raw.parse().usage
    gateway.flush()
    record = gateway.runtime.store.get_request(raw.headers["x-request-id"])
    assert record is not None and record.deployment == "sim-anthropic/claude-haiku-4-5"
    assert record.cost_usd == pytest.approx((usage.prompt_tokens * 1.0 + usage.completion_tokens * 5.0) / 1e6)  # type: ignore[union-attr]


def test_failed_request_is_recorded_with_its_attempts(gateway: GatewayThread) -> None:
    with pytest.raises(openai.InternalServerError) as failure:
        sdk(gateway).chat.completions.create(model="chat", messages=[{"role": "user", "content": "[sim:fault=500]"}])
    error = failure.value.body
    assert isinstance(error, dict)
    request_id = error["request_id"]
    assert error["attempts"][0]["error"] == "server_error"
    gateway.flush()
    record = gateway.runtime.store.get_request(request_id)
    assert record is not None
    assert record.status_code == 502 and record.error_type == "upstream_failed"
    assert record.attempts[0].outcome == "error" and record.attempts[0].status == 500
    assert record.cost_usd is None and record.input_tokens == 0


def test_rejected_input_is_not_logged_as_a_model_call(gateway: GatewayThread) -> None:
    before = len(gateway.runtime.store.list_requests(RequestQuery(limit=1000)))
    request("POST", gateway.url + "/v1/chat/completions", b"{", {"content-type": "application/json"})
    gateway.flush()
    assert len(gateway.runtime.store.list_requests(RequestQuery(limit=1000))) == before


def test_admin_and_cli_views_of_the_log(gateway: GatewayThread) -> None:
    raw = sdk(gateway).chat.completions.with_raw_response.create(model="chat", messages=[{"role": "user", "content": "x"}])
    gateway.flush()
    listed = request("GET", gateway.url + "/admin/requests?limit=5&model=chat").json()["data"]
    assert raw.headers["x-request-id"] in [r["request_id"] for r in listed]
    one = request("GET", gateway.url + f"/admin/requests/{raw.headers['x-request-id']}").json()
    assert one["attempts"][0]["deployment"] == "sim/gpt-4o-mini"


def _wait_for(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def journal_ids(spill: Path) -> list[str]:
    """Request ids in the spill journal, its files claimed for a replay attempt included."""
    found: list[str] = []
    for path in [*spill.glob("*.jsonl"), *spill.glob("*.replaying")]:
        try:
            found.extend(json.loads(line)["request_id"] for line in path.read_text().splitlines())
        except FileNotFoundError:  # renamed between the listing and the read: the next look finds it
            return []
    return found


def test_records_survive_a_store_outage_and_a_restart(sim: object, tmp_path: Path) -> None:
    """The SQLite file's folder disappears (a real outage), the gateway keeps serving, nothing is lost."""
    db_dir, away = tmp_path / "db", tmp_path / "db-away"
    db_dir.mkdir()
    raw = base_config(sim.url, f"sqlite:///{db_dir}/headway.db", tmp_path / "spill")  # type: ignore[attr-defined]
    config = parse_config(raw)
    ids: list[str] = []
    with GatewayThread(config) as gw:
        client = sdk(gw)
        ids.append(client.chat.completions.with_raw_response.create(model="chat", messages=[{"role": "user", "content": "before"}]).headers["x-request-id"])
        gw.flush()
        db_dir.rename(away)  # outage begins
        for n in range(5):
            reply = client.chat.completions.with_raw_response.create(model="chat", messages=[{"role": "user", "content": f"during {n}"}])
            ids.append(reply.headers["x-request-id"])  # still served
        gw.flush()
        ready = request("GET", gw.url + "/readyz")
        assert ready.status == 503 and not ready.json()["checks"]["store"]["ok"]
        # In the journal, whether a replay attempt holds the file (renamed ``.replaying``) or not.
        _wait_for(lambda: sorted(journal_ids(tmp_path / "spill")) == sorted(ids[1:]))
        away.rename(db_dir)  # outage ends: the gateway replays by itself
        _wait_for(lambda: all(gw.runtime.store.get_request(i) for i in ids))
        _wait_for(lambda: request("GET", gw.url + "/readyz").status == 200)
        # A second outage, then the process stops before the store returns: the journal carries over.
        db_dir.rename(away)
        ids.append(client.chat.completions.with_raw_response.create(model="chat", messages=[{"role": "user", "content": "late"}]).headers["x-request-id"])
    away.rename(db_dir)
    store = open_store(config.store)
    assert store.get_request(ids[-1]) is None  # not yet: it sits in the journal
    with GatewayThread(config) as gw:
        _wait_for(lambda: gw.runtime.store.get_request(ids[-1]) is not None)
    assert {r.request_id for r in store.list_requests(RequestQuery(limit=100))} == set(ids)
    assert not list((tmp_path / "spill").glob("*.jsonl")) and not list((tmp_path / "spill").glob("*.replaying"))


def test_request_ids_are_ordered_by_time_so_the_log_index_grows_at_its_end(gateway: GatewayThread) -> None:
    from headway.types import time_ordered_request_id

    # The time decides the order, whatever the random part: ms 1 with the largest random bits sorts first.
    assert time_ordered_request_id(2**80 - 1, now_ns=1_000_000) < time_ordered_request_id(0, now_ns=2_000_000)
    ids = []
    for _ in range(3):
        body = json.dumps({"model": "chat", "messages": [{"role": "user", "content": "hi"}]}).encode()
        reply = request("POST", f"{gateway.url}/v1/chat/completions", body, {"content-type": "application/json"})
        assert reply.status == 200
        ids.append(reply.headers["x-request-id"])
        time.sleep(0.002)
    assert ids == sorted(ids) and len(set(ids)) == 3
    for request_id in ids:
        assert request_id.startswith("req_") and len(request_id) == 36 and int(request_id[4:], 16) >= 0
        assert abs(int(request_id[4:16], 16) / 1000 - time.time()) < 60  # the first 12 digits are the time


def test_records_reach_the_store_once_drain_at_of_them_wait_without_a_flush(sim: object, tmp_path: Path) -> None:
    """The interval is a minute here: only ``drain_at`` waiting records can start the write."""
    raw = base_config(sim.url, f"sqlite:///{tmp_path}/headway.db", tmp_path / "spill")  # type: ignore[attr-defined]
    raw["request_log"].update(flush_interval_ms=60_000, drain_at=3)
    with GatewayThread(parse_config(raw)) as gw:
        client = sdk(gw)
        ids = [client.chat.completions.with_raw_response.create(model="chat", messages=[{"role": "user", "content": f"n{n}"}])
               .headers["x-request-id"] for n in range(2)]
        time.sleep(0.3)
        assert not any(gw.runtime.store.get_request(i) for i in ids)  # two waiting: still buffered
        ids.append(client.chat.completions.with_raw_response.create(model="chat", messages=[{"role": "user", "content": "n2"}])
                   .headers["x-request-id"])
        _wait_for(lambda: all(gw.runtime.store.get_request(i) for i in ids))
