"""OpenTelemetry traces: one span per request, a child per stage and per upstream attempt.

The tracer provider belongs to the runtime (never the global one), so two gateways in one
process keep separate traces. The exporter follows the standard ``OTEL_*`` variables
(``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, ``…_HEADERS``,
``OTEL_TRACES_SAMPLER``, ``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``,
``OTEL_SDK_DISABLED``). With tracing off, ``stage()`` returns one shared null context and
nothing else runs.

Spans
- request span (SERVER, opened by ``ObserveMiddleware``; named ``chat <model>`` once the
  record is known): ``gen_ai.*`` request/usage attributes plus ``headway.*``;
- stage spans (INTERNAL): ``with tracing.stage("admission"):`` from any part;
- attempt spans (CLIENT, ``chat <upstream model>``): ``traced_provider.TracedProvider``.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from headway import __version__
from headway.config import ProviderConfig, TracingConfig
from headway.observe import genai
from headway.observe.traced_provider import TracedProvider
from headway.providers import Provider
from headway.types import RequestRecord


@dataclass(slots=True)
class _RequestSpan:
    request_id: str
    span: Span


def tracing_enabled(config: TracingConfig, environ: Mapping[str, str]) -> bool:
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true" or config.enabled == "off":
        return False
    if config.enabled == "on":
        return True
    return bool(environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def _exporter(config: TracingConfig, environ: Mapping[str, str]) -> SpanExporter | None:
    # OTEL_TRACES_EXPORTER is the standard switch; the config is the default when it is unset.
    kind = environ.get("OTEL_TRACES_EXPORTER", config.exporter).split(",")[0].strip().lower()
    if kind == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()  # endpoint, headers, timeout and compression from OTEL_EXPORTER_OTLP_*
    if kind == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    return None


class ExportCounts(SpanExporter):
    """Wraps the exporter and counts what it really delivered: the readiness gate asks for spans exported, not configured."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner
        self.exported = 0
        self.failed = 0
        self.last_error: str | None = None

    def export(self, spans: Any) -> SpanExportResult:
        try:
            result = self.inner.export(spans)
        except Exception as exc:  # an exporter that raises is an exporter that failed
            self.failed += len(spans)
            self.last_error = f"{exc.__class__.__name__}: {exc}"
            return SpanExportResult.FAILURE
        if result == SpanExportResult.SUCCESS:
            self.exported += len(spans)
        else:
            self.failed += len(spans)
            self.last_error = "the exporter reported a failure (collector unreachable or refusing)"
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)

    def to_dict(self) -> dict[str, Any]:
        return {"spans_exported": self.exported, "spans_failed": self.failed, "last_error": self.last_error}


class Tracing:
    def __init__(self, config: TracingConfig, *, environ: Mapping[str, str] | None = None) -> None:
        environ = os.environ if environ is None else environ
        self.config = config
        self.enabled = tracing_enabled(config, environ)
        self._null: AbstractContextManager[Span | None] = contextlib.nullcontext()
        self._propagator = TraceContextTextMapPropagator()
        # Per runtime, so concurrent gateways (tests) never annotate each other's spans.
        self._current: ContextVar[_RequestSpan | None] = ContextVar(f"headway_request_span_{id(self)}", default=None)
        self._provider_types: dict[str, str] = {}
        self.provider: TracerProvider | None = None
        self.exports: ExportCounts | None = None
        self.tracer: trace.Tracer = trace.NoOpTracer()
        if not self.enabled:
            return
        service = environ.get("OTEL_SERVICE_NAME") or config.service_name
        resource = Resource.create({"service.name": service, "service.version": __version__})
        self.provider = TracerProvider(resource=resource, shutdown_on_exit=False)
        exporter = _exporter(config, environ)
        if exporter is not None:
            self.exports = ExportCounts(exporter)
            self.provider.add_span_processor(BatchSpanProcessor(self.exports))
        self.tracer = self.provider.get_tracer("headway", __version__, schema_url=genai.SCHEMA_URL)

    def add_processor(self, processor: SpanProcessor) -> None:
        if self.provider is None:
            raise RuntimeError("tracing is off (observe.tracing.enabled)")
        self.provider.add_span_processor(processor)

    def add_exporter(self, exporter: SpanExporter) -> None:
        """Export every span synchronously as it ends (tests, local debugging)."""
        self.add_processor(SimpleSpanProcessor(exporter))

    # -- the API other parts call ---------------------------------------------------------
    def stage(self, name: str, **attributes: Any) -> AbstractContextManager[Span | None]:
        """A child span of the current request for one stage: ``with tracing.stage("admission"):``."""
        if not self.enabled:
            return self._null
        return self.tracer.start_as_current_span(name, attributes={"headway.stage": name, **attributes})

    def wrap_providers(self, providers: dict[str, Provider], configs: Mapping[str, ProviderConfig]) -> dict[str, Provider]:
        self._provider_types = {name: config.type for name, config in configs.items()}
        if not self.enabled:
            return providers
        wrapped: dict[str, Provider] = {}
        for name, provider in providers.items():
            config = configs.get(name)
            wrapped[name] = TracedProvider(
                provider,
                tracer=self.tracer,
                provider_type=config.type if config else "openai",
                base_url=config.base_url if config else "",
                capture_content=self.config.capture_content,
                on_served=self._on_served,
            )
        return wrapped

    # -- the request span (middleware) ------------------------------------------------------
    @contextmanager
    def request(self, request_id: str, method: str, path: str, headers: Mapping[str, str]) -> Iterator[Span | None]:
        if not self.enabled:
            yield None
            return
        parent = self._propagator.extract(headers)
        span = self.tracer.start_span(
            f"{method} {path}",
            context=parent,
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": path, "headway.request_id": request_id},
        )
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        reset = self._current.set(_RequestSpan(request_id, span))
        try:
            yield span
        except BaseException as exc:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            raise
        finally:
            self._current.reset(reset)
            otel_context.detach(token)
            span.end()

    def trace_id(self, headers: Mapping[str, str]) -> str | None:
        """The incoming W3C trace id, for log lines when tracing is off."""
        traceparent = headers.get("traceparent")
        if not traceparent:
            return None
        parts = traceparent.split("-")
        if len(parts) >= 4 and len(parts[1]) == 32 and parts[1] != "0" * 32:
            return parts[1]
        return None

    def _on_served(self, learnt: dict[str, Any]) -> None:
        current = self._current.get()
        if current is not None:
            current.span.set_attributes({k: v for k, v in learnt.items() if k != genai.RESPONSE_MODEL})

    # -- the finished record -------------------------------------------------------------------
    def on_record(self, record: RequestRecord) -> None:
        if not self.enabled:
            return
        attributes = genai.record_attributes(record, self._provider_types)
        name = genai.span_name(attributes[genai.OPERATION], record.model)
        current = self._current.get()
        if current is not None and current.request_id == record.request_id:
            span = current.span
            span.update_name(name)
            span.set_attributes(attributes)
            if record.status_code >= 500:
                span.set_status(Status(StatusCode.ERROR, record.error_type or str(record.status_code)))
            return
        # Not under an HTTP request span (a job, a batch): one span covering the whole request, after the fact.
        start = int(record.created_at * 1e9)
        span = self.tracer.start_span(name, kind=SpanKind.INTERNAL, attributes=attributes, start_time=start)
        if record.status_code >= 500:
            span.set_status(Status(StatusCode.ERROR, record.error_type or str(record.status_code)))
        span.end(end_time=start + int(record.latency_ms * 1e6))

    def export_report(self, timeout_s: float = 2.0) -> dict[str, Any] | None:
        """Flush what is batched (bounded), then what the exporter delivered since start; None without an exporter."""
        if self.provider is None or self.exports is None:
            return None
        self.provider.force_flush(timeout_millis=int(timeout_s * 1000))
        return self.exports.to_dict()

    def shutdown(self) -> None:
        if self.provider is not None:
            # A slow collector must not hold shutdown: give the exporter a bounded flush.
            deadline = time.monotonic() + 5
            self.provider.force_flush(timeout_millis=int(max(0.0, deadline - time.monotonic()) * 1000))
            self.provider.shutdown()
