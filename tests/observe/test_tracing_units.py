"""Tracing switches, the stage API, content capture, trace-context propagation."""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

import openai
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from headway.config.observe import TracingConfig
from headway.observe import genai
from headway.observe.traced_provider import TracedProvider
from headway.observe.tracing import Tracing, tracing_enabled
from headway.serving.chat import serve_chat
from headway.testing import GatewayThread
from headway.types import CallContext, RequestRecord, Usage


def test_tracing_follows_the_standard_environment() -> None:
    auto = TracingConfig()
    assert not tracing_enabled(auto, {})
    assert tracing_enabled(auto, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
    assert tracing_enabled(auto, {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"})
    assert not tracing_enabled(auto, {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x", "OTEL_SDK_DISABLED": "true"})
    assert tracing_enabled(TracingConfig(enabled="on"), {})
    assert not tracing_enabled(TracingConfig(enabled="off"), {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"})


def test_off_means_a_shared_null_stage_and_unwrapped_providers() -> None:
    tracing = Tracing(TracingConfig(enabled="off"), environ={})
    assert tracing.stage("admission") is tracing.stage("cache")
    with tracing.stage("admission") as span:
        assert span is None
    providers: dict[str, Any] = {"p": object()}
    assert tracing.wrap_providers(providers, {}) is providers


def test_otlp_exporter_reads_the_standard_variables() -> None:
    tracing = Tracing(
        TracingConfig(enabled="on"),
        environ={"OTEL_SERVICE_NAME": "edge-gw", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"},
    )
    assert tracing.provider is not None
    assert tracing.provider.resource.attributes["service.name"] == "edge-gw"
    tracing.shutdown()


def _traced_gateway(make_config: Any, **tracing: Any) -> tuple[GatewayThread, InMemorySpanExporter]:
    gw = GatewayThread(make_config(observe={"tracing": {"enabled": "on", "exporter": "none", **tracing}})).start()
    exporter = InMemorySpanExporter()
    gw.runtime.observability.tracing.add_exporter(exporter)
    return gw, exporter


def test_stage_spans_nest_under_the_request_span(make_config: Any) -> None:
    gw, exporter = _traced_gateway(make_config)
    try:
        tracing = gw.runtime.observability.tracing

        async def job() -> None:
            with tracing.request("req_stage", "POST", "/v1/chat/completions", {}):
                with gw.runtime.observability.stage("admission", queue="default"):
                    pass
                with contextlib.suppress(RuntimeError), tracing.stage("guards"):
                    raise RuntimeError("blocked")

        gw.run(job())
        spans = {s.name: s for s in exporter.get_finished_spans()}
        root = spans["POST /v1/chat/completions"]
        assert root.kind == SpanKind.SERVER
        for name in ("admission", "guards"):
            assert spans[name].parent is not None and spans[name].parent.span_id == root.context.span_id
            assert spans[name].attributes["headway.stage"] == name
        assert spans["admission"].attributes["queue"] == "default"
        assert spans["guards"].status.is_ok is False
    finally:
        gw.stop()


def test_incoming_traceparent_continues_the_callers_trace(make_config: Any) -> None:
    gw, exporter = _traced_gateway(make_config)
    try:
        trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0)
        client.chat.completions.create(
            model="chat", messages=[{"role": "user", "content": "hi"}],
            extra_headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"},
        )
        # The request span ends just after the last byte went out: wait for it.
        deadline = time.monotonic() + 5
        while not [s for s in exporter.get_finished_spans() if s.kind == SpanKind.SERVER]:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        spans = exporter.get_finished_spans()
        assert spans and all(format(s.context.trace_id, "032x") == trace_id for s in spans)
        [root] = [s for s in spans if s.kind == SpanKind.SERVER]
        assert root.parent is not None and format(root.parent.span_id, "016x") == "00f067aa0ba902b7"
    finally:
        gw.stop()


def test_message_contents_only_when_capture_is_on(make_config: Any) -> None:
    gw, exporter = _traced_gateway(make_config, capture_content=True)
    try:
        ctx = CallContext(request_id="req_capture")
        body = {"model": "chat", "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capture me"}]}
        reply: Any = gw.run(serve_chat(gw.runtime, ctx, body))
        [client] = [s for s in exporter.get_finished_spans() if s.kind == SpanKind.CLIENT]
        assert json.loads(client.attributes[genai.INPUT_MESSAGES]) == [
            {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
            {"role": "user", "parts": [{"type": "text", "content": "Capture me"}]},
        ]
        [output] = json.loads(client.attributes[genai.OUTPUT_MESSAGES])
        assert output["role"] == "assistant" and output["finish_reason"] == "stop"
        assert output["parts"] == [{"type": "text", "content": reply.body["choices"][0]["message"]["content"]}]
    finally:
        gw.stop()


@pytest.mark.parametrize(
    ("provider_type", "name"),
    [("openai", "openai"), ("anthropic", "anthropic"), ("azure", "azure.ai.openai"), ("bedrock", "aws.bedrock"),
     ("gemini", "gcp.gemini"), ("vertex", "gcp.vertex_ai")],
)
def test_provider_types_carry_the_conventions_well_known_names(provider_type: str, name: str) -> None:
    assert genai.request_attributes("chat", provider_type, "m", {})["gen_ai.provider.name"] == name


def test_request_attributes_from_openai_parameters() -> None:
    attributes = genai.request_attributes(
        "chat", "anthropic", "claude-haiku-4-5",
        {"max_completion_tokens": 64, "temperature": 0.2, "top_p": 1, "n": 2, "stop": ["\n"], "stream": True, "seed": True},
    )
    assert attributes == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-haiku-4-5",
        "gen_ai.request.max_tokens": 64,
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.top_p": 1,
        "gen_ai.request.choice.count": 2,
        "gen_ai.request.stop_sequences": ("\n",),
        "gen_ai.request.stream": True,
    }
    assert genai.usage_attributes(Usage(3, 4, cache_read_tokens=2, reasoning_tokens=1)) == {
        "gen_ai.usage.input_tokens": 3,
        "gen_ai.usage.output_tokens": 4,
        "gen_ai.usage.cache_read.input_tokens": 2,
        "gen_ai.usage.reasoning.output_tokens": 1,
    }


def test_record_attributes_carry_quality_signals_and_skip_nested_ones() -> None:
    record = RequestRecord(request_id="r", endpoint="embeddings", model="embed", quality={"contract": "valid", "guards": {"pii": 2}})
    attributes = genai.record_attributes(record, {})
    assert attributes["gen_ai.operation.name"] == "embeddings"
    assert attributes["headway.quality.contract"] == "valid"
    assert "headway.quality.guards" not in attributes


def test_traced_provider_passes_unknown_attributes_through() -> None:
    class Inner:
        name = "p"
        extra = "kept"

    wrapped = TracedProvider(Inner(), tracer=Tracing(TracingConfig(enabled="off"), environ={}).tracer,  # type: ignore[arg-type]
                             provider_type="openai", base_url="https://api.example.com/v1", capture_content=False, on_served=lambda _: None)
    assert wrapped.name == "p" and wrapped.extra == "kept"
    assert wrapped._static["server.port"] == 443
