"""A scripted mix of traffic, then exact metrics, the trace tree, log fields and cost per key and team.

One gateway serves: three successes, a cache hit, a fallback, an upstream error, a stream,
and four calls made as named keys of two teams through ``serve_chat`` (as a background
job would). Every assertion compares a signal against what that traffic must produce.
"""

from __future__ import annotations

import io
import json
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from headway.config.loader import parse_config
from headway.config.models import HeadwayConfig, LoggingConfig, ModelConfig
from headway.observe.logs import configure_logging, reset_logging
from headway.serving.chat import serve_chat
from headway.testing import GatewayThread
from headway.types import CallContext, RequestRecord
from tests.conftest import base_config
from tests.observe.helpers import samples, total, value

HAS_FALLBACKS = "fallbacks" in ModelConfig.model_fields
HAS_CACHE = "cache" in HeadwayConfig.model_fields
CHAT_PRICE = (0.15, 0.60)

# caller, team: four calls, three callers, two teams
KEYED_CALLS = [("key-a", "red"), ("key-a", "red"), ("key-b", "red"), ("key-c", "blue")]


def _config(sim_url: str, tmp: Any) -> HeadwayConfig:
    chat: dict[str, Any] = {
        "deployments": [{"provider": "sim", "model": "gpt-4o-mini"}],
        "price": {"input": CHAT_PRICE[0], "output": CHAT_PRICE[1]},
    }
    models: dict[str, Any] = {"chat": chat}
    sections: dict[str, Any] = {
        "observe": {"tracing": {"enabled": "on", "exporter": "none"}},
        "logging": {"level": "info"},
    }
    if HAS_FALLBACKS:
        chat["retries"] = {"max_retries": 0}
        models["flaky"] = {
            "deployments": [{"provider": "sim", "model": "gpt-4o"}],
            "price": {"input": 2.5, "output": 10.0},
            "retries": {"max_retries": 0},
            "fallbacks": ["chat"],
        }
    if HAS_CACHE:
        chat["cache"] = {"enabled": True}
        sections["cache"] = {"persist": False}
    raw = base_config(sim_url, f"sqlite:///{tmp}/traffic.db", tmp / "spill", **sections)
    raw["models"] = {**raw["models"], **models}
    return parse_config(raw)


class Traffic:
    def __init__(self, gateway: GatewayThread, exporter: InMemorySpanExporter, logs: io.StringIO) -> None:
        self.gateway = gateway
        self.exporter = exporter
        self.logs = logs
        self.ids: dict[str, str] = {}
        self.keyed: list[str] = []

    def records(self) -> dict[str, RequestRecord]:
        return {name: self.gateway.record(rid) for name, rid in {**self.ids, **{f"keyed{i}": r for i, r in enumerate(self.keyed)}}.items()}

    def metrics(self) -> dict[str, Any]:
        return samples(urllib.request.urlopen(self.gateway.url + "/metrics").read().decode())

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def log_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.logs.getvalue().splitlines() if line.startswith("{")]


def _chat(client: openai.OpenAI, model: str, text: str, **extra: Any) -> str:
    raw = client.chat.completions.with_raw_response.create(model=model, messages=[{"role": "user", "content": text}], **extra)
    raw.parse()
    return raw.headers["x-request-id"]


@pytest.fixture(scope="module")
def traffic(sim: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Traffic]:
    stream = io.StringIO()
    handler = configure_logging(LoggingConfig(level="info", format="json"), stream=stream)
    config = _config(sim.url, tmp_path_factory.mktemp("traffic"))
    exporter = InMemorySpanExporter()
    try:
        with GatewayThread(config) as gw:
            gw.runtime.observability.tracing.add_exporter(exporter)
            run = Traffic(gw, exporter, stream)
            client = openai.OpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0)
            for index in range(3):
                run.ids[f"ok{index}"] = _chat(client, "chat", f"Observe request number {index} please")
            if HAS_CACHE:
                run.ids["hit"] = _chat(client, "chat", "Observe request number 0 please")
            if HAS_FALLBACKS:
                urllib.request.urlopen(
                    urllib.request.Request(
                        sim.url + "/sim/faults",
                        data=json.dumps({"fault": "500", "model": "gpt-4o", "count": 1}).encode(),
                        headers={"content-type": "application/json"},
                    )
                )
                run.ids["fallback"] = _chat(client, "flaky", "Try the flaky model first")
            with pytest.raises(openai.APIStatusError) as failed:
                client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "Break [sim:fault=500]"}])
            run.ids["error"] = failed.value.response.headers["x-request-id"]
            raw = client.chat.completions.with_raw_response.create(
                model="chat", messages=[{"role": "user", "content": "Stream this answer"}], stream=True
            )
            for _ in raw.parse():
                pass
            run.ids["stream"] = raw.headers["x-request-id"]
            for index, (caller, team) in enumerate(KEYED_CALLS):
                ctx = CallContext(request_id=f"req_keyed_{index}", caller=caller, team=team, origin="job")
                body = {"model": "chat", "messages": [{"role": "user", "content": f"Keyed call {index} from {caller}"}]}
                gw.run(serve_chat(gw.runtime, ctx, body))
                run.keyed.append(ctx.request_id)
            gw.flush()
            yield run
    finally:
        reset_logging(handler)


def test_requests_counter_matches_every_record_by_labels(traffic: Traffic) -> None:
    records = traffic.records()
    parsed = traffic.metrics()
    expected = Counter(
        (r.endpoint, r.model, r.deployment or "", str(r.status_code), r.served_by or "") for r in records.values()
    )
    got = {
        (dict(k)["endpoint"], dict(k)["model"], dict(k)["deployment"], dict(k)["status"], dict(k)["served_by"]): v
        for k, v in parsed["headway_requests_total"].items()
    }
    assert got == {k: float(v) for k, v in expected.items()}
    assert value(parsed, "headway_requests_total", model="chat", status="502") == 1
    assert total(parsed, "headway_requests_total", served_by="primary", status="200") == 3 + 1 + len(KEYED_CALLS)


def test_latency_ttft_tokens_and_cost_series(traffic: Traffic) -> None:
    records = traffic.records()
    parsed = traffic.metrics()
    assert total(parsed, "headway_request_duration_seconds_count") == len(records)
    assert total(parsed, "headway_request_duration_seconds_sum") == pytest.approx(
        sum(r.latency_ms for r in records.values()) / 1000
    )
    # Only the stream has a time to first token.
    assert value(parsed, "headway_time_to_first_token_seconds_count", model="chat") == 1
    for kind, attribute in (("input", "input_tokens"), ("output", "output_tokens")):
        assert total(parsed, "headway_tokens_total", type=kind) == sum(getattr(r, attribute) for r in records.values())
    assert total(parsed, "headway_tokens_total", type="input") > 0
    assert total(parsed, "headway_cost_usd_total") == pytest.approx(sum(r.cost_usd or 0 for r in records.values()))
    assert value(parsed, "headway_cost_usd_total", team="red") == pytest.approx(
        sum(r.cost_usd or 0 for r in records.values() if r.team == "red")
    )
    # One attempt sample per recorded attempt, by outcome.
    attempts = Counter((a.deployment, a.outcome) for r in records.values() for a in r.attempts)
    for (deployment, outcome), count in attempts.items():
        assert total(parsed, "headway_upstream_attempts_total", deployment=deployment, outcome=outcome) == count


@pytest.mark.skipif(not HAS_CACHE, reason="the cache part has not landed")
def test_cache_hit_is_counted(traffic: Traffic) -> None:
    parsed = traffic.metrics()
    assert traffic.records()["hit"].served_by == "cache"
    assert value(parsed, "headway_cache_hits_total", model="chat", served_by="cache") == 1


@pytest.mark.skipif(not HAS_FALLBACKS, reason="the resilience part has not landed")
def test_fallback_is_counted_and_traced(traffic: Traffic) -> None:
    record = traffic.records()["fallback"]
    assert record.served_by == "fallback:chat"
    assert [a.outcome for a in record.attempts] == ["error", "ok"]
    parsed = traffic.metrics()
    assert value(parsed, "headway_fallbacks_total", model="flaky", served_by="fallback:chat") == 1
    request_span, children = _tree(traffic, record.request_id)
    clients = [s for s in children if s.kind == SpanKind.CLIENT]
    assert [s.name for s in clients] == ["chat gpt-4o", "chat gpt-4o-mini"]
    assert clients[0].status.status_code == StatusCode.ERROR
    assert clients[0].attributes["error.type"] == "server_error"
    assert clients[1].attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert request_span.attributes["headway.served_by"] == "fallback:chat"
    assert request_span.attributes["gen_ai.response.model"] == "gpt-4o-mini"


def _tree(traffic: Traffic, request_id: str) -> tuple[ReadableSpan, list[ReadableSpan]]:
    deadline = time.monotonic() + 5
    while True:  # a request span ends just after its last byte went out
        spans = traffic.spans()
        roots = [s for s in spans if s.attributes.get("headway.request_id") == request_id and s.parent is None]
        if roots or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    assert len(roots) == 1, [s.name for s in spans if s.attributes.get("headway.request_id") == request_id]
    root = roots[0]
    children = sorted(
        (s for s in spans if s.parent is not None and s.parent.span_id == root.context.span_id), key=lambda s: s.start_time
    )
    assert all(s.context.trace_id == root.context.trace_id for s in children)
    return root, children


def test_trace_tree_of_a_success_follows_gen_ai_conventions(traffic: Traffic) -> None:
    record = traffic.records()["ok0"]
    root, children = _tree(traffic, record.request_id)
    assert root.kind == SpanKind.SERVER
    assert root.name == "chat chat"
    assert root.attributes["gen_ai.operation.name"] == "chat"
    assert root.attributes["gen_ai.request.model"] == "chat"
    assert root.attributes["gen_ai.provider.name"] == "openai"
    assert root.attributes["gen_ai.usage.input_tokens"] == record.input_tokens
    assert root.attributes["gen_ai.usage.output_tokens"] == record.output_tokens
    assert root.attributes["http.response.status_code"] == 200
    assert root.attributes["headway.cost_usd"] == pytest.approx(record.cost_usd)
    [client] = [s for s in children if s.kind == SpanKind.CLIENT]
    assert client.name == "chat gpt-4o-mini"
    assert client.attributes["gen_ai.request.model"] == "gpt-4o-mini"
    assert client.attributes["gen_ai.provider.name"] == "openai"
    assert client.attributes["server.address"] == "127.0.0.1"
    assert client.attributes["gen_ai.usage.input_tokens"] == record.input_tokens
    assert client.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    # Message contents are off by default.
    assert "gen_ai.input.messages" not in client.attributes
    assert "gen_ai.output.messages" not in client.attributes
    assert root.start_time <= client.start_time <= client.end_time <= root.end_time


def test_trace_of_an_error_and_a_stream(traffic: Traffic) -> None:
    records = traffic.records()
    root, children = _tree(traffic, records["error"].request_id)
    assert root.status.status_code == StatusCode.ERROR
    assert root.attributes["headway.status_code"] == 502
    assert [s.attributes["error.type"] for s in children if s.kind == SpanKind.CLIENT] == ["server_error"] * len(
        records["error"].attempts
    )
    stream_root, stream_children = _tree(traffic, records["stream"].request_id)
    [client] = [s for s in stream_children if s.kind == SpanKind.CLIENT]
    assert client.attributes["gen_ai.request.stream"] is True
    assert client.attributes["gen_ai.response.time_to_first_chunk"] > 0
    assert client.attributes["gen_ai.usage.output_tokens"] == records["stream"].output_tokens
    assert stream_root.attributes["gen_ai.response.time_to_first_chunk"] == pytest.approx(records["stream"].ttft_ms / 1000)


def test_jobs_outside_http_get_one_span_each(traffic: Traffic) -> None:
    spans = [s for s in traffic.spans() if s.attributes.get("headway.request_id") == traffic.keyed[0]]
    assert [s.kind for s in spans] == [SpanKind.INTERNAL]
    assert spans[0].attributes["headway.caller"] == "key-a"
    assert spans[0].attributes["headway.team"] == "red"


def test_every_request_has_one_json_log_line_with_ids(traffic: Traffic) -> None:
    lines = traffic.log_lines()
    request_lines = {line["request_id"]: line for line in lines if line.get("event") == "request"}
    records = traffic.records()
    assert set(request_lines) == {r.request_id for r in records.values()}
    ok = records["ok0"]
    line = request_lines[ok.request_id]
    root, _ = _tree(traffic, ok.request_id)
    assert line["trace_id"] == format(root.context.trace_id, "032x")
    assert line["level"] == "info"
    assert line["logger"] == "headway.requests"
    assert (line["model"], line["status"], line["input_tokens"], line["output_tokens"]) == (
        "chat", 200, ok.input_tokens, ok.output_tokens
    )
    assert line["cost_usd"] == pytest.approx(ok.cost_usd)
    assert request_lines[records["error"].request_id]["level"] == "warning"
    assert request_lines[records["error"].request_id]["status"] == 502
    assert all("timestamp" in line and "level" in line for line in lines)


def test_cost_is_tokens_times_price_and_sums_per_key_and_team(traffic: Traffic) -> None:
    records = traffic.records()
    for name, record in records.items():
        if record.served_by == "cache":
            assert record.cost_usd == 0.0
            continue
        if record.status_code != 200:
            continue
        expected = (record.input_tokens * CHAT_PRICE[0] + record.output_tokens * CHAT_PRICE[1]) / 1_000_000
        assert record.cost_usd == pytest.approx(expected, rel=1e-9), name
    keyed = [records[f"keyed{i}"] for i in range(len(KEYED_CALLS))]
    by_caller = json.loads(urllib.request.urlopen(traffic.gateway.url + "/admin/cost?group_by=caller").read())
    got = {row["caller"]: row for row in by_caller["data"]}
    for caller in ("key-a", "key-b", "key-c"):
        mine = [r for r in keyed if r.caller == caller]
        assert got[caller]["requests"] == len(mine)
        assert got[caller]["cost_usd"] == pytest.approx(sum(r.cost_usd or 0 for r in mine))
        assert got[caller]["input_tokens"] == sum(r.input_tokens for r in mine)
    by_team = json.loads(urllib.request.urlopen(traffic.gateway.url + "/admin/cost?group_by=team").read())
    teams = {row["team"]: row for row in by_team["data"]}
    assert teams["red"]["requests"] == 3
    assert teams["red"]["cost_usd"] == pytest.approx(sum(r.cost_usd or 0 for r in keyed if r.team == "red"))
    assert teams["blue"]["cost_usd"] == pytest.approx(sum(r.cost_usd or 0 for r in keyed if r.team == "blue"))
    assert by_team["total"]["cost_usd"] == pytest.approx(sum(r.cost_usd or 0 for r in records.values()))
    only_red = json.loads(urllib.request.urlopen(traffic.gateway.url + "/admin/cost?group_by=caller&team=red").read())
    assert {row["caller"] for row in only_red["data"]} == {"key-a", "key-b"}


def test_record_buffer_and_build_gauges(traffic: Traffic) -> None:
    parsed = traffic.metrics()
    assert value(parsed, "headway_request_log_buffered_records") == 0  # flushed by the fixture
    assert value(parsed, "headway_request_log_store_up") == 1
    assert value(parsed, "headway_request_log_capacity_records") == traffic.gateway.runtime.config.request_log.buffer_size
    assert total(parsed, "headway_build_info") == 1
