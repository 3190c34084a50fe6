"""Structured logs: every line one JSON object carrying the request id and trace id.

All logging goes through the standard library (``logging.getLogger(...)``, fields via
``extra=``) and structlog renders it: one handler on the root logger whose formatter runs
the structlog chain, so uvicorn's, SQLAlchemy's and every part's lines share the format.
Request and trace ids come from context variables bound per request by
``ObserveMiddleware``; the current OpenTelemetry span supplies ids when tracing is on.
A redaction processor (the guards part's, when installed) runs last before rendering.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping, Sequence
from typing import Any, TextIO

import orjson
import structlog
from opentelemetry import trace
from structlog.typing import EventDict, Processor, WrappedLogger

from headway.config import LoggingConfig

# Fields that carry identifiers, never personal data: redaction leaves them alone. The request
# line's fields come from the request record, which the request log has already redacted.
SAFE_FIELDS = frozenset(
    {
        "timestamp", "level", "logger", "request_id", "trace_id", "span_id",
        "endpoint", "model", "status", "latency_ms", "ttft_ms", "input_tokens", "output_tokens", "cost_usd",
        "served_by", "deployment", "attempts", "caller", "team", "error_type",
    }
)


def add_trace_ids(_logger: WrappedLogger, _method: str, event: EventDict) -> EventDict:
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event["trace_id"] = format(context.trace_id, "032x")
        event["span_id"] = format(context.span_id, "016x")
    return event


# Loggers whose lines hold only fields of already-redacted request records.
PRE_REDACTED_LOGGERS = frozenset({"headway.requests"})


def sparing(processor: Processor, safe: frozenset[str] = SAFE_FIELDS) -> Processor:
    """Run ``processor`` on every field except identifiers (a request id must stay greppable)."""

    def process(logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
        if event.get("logger") in PRE_REDACTED_LOGGERS:
            return event
        kept = {key: event.pop(key) for key in safe.intersection(event)}
        result = processor(logger, method, event)
        assert isinstance(result, MutableMapping)
        result.update(kept)
        return result

    return process


def _render_json(_logger: WrappedLogger, _method: str, event: EventDict) -> str:
    return orjson.dumps(event, default=str).decode()


def shared_processors(redact: Processor | None) -> list[Processor]:
    chain: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
        add_trace_ids,
    ]
    if redact is not None:
        chain.append(sparing(redact))
    return chain


def configure_logging(
    config: LoggingConfig,
    *,
    stream: TextIO | None = None,
    redact: Processor | None = None,
) -> logging.Handler:
    """Route all logging through structlog to ``stream`` (stderr) at ``config.level``; returns the handler.

    ``redact`` is the redaction processor (the guards part's, passed in by ``headway serve``).
    """
    chain = shared_processors(redact)
    renderer: Processor = _render_json if config.format == "json" else structlog.dev.ConsoleRenderer(colors=False)
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=chain,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    level = getattr(logging, config.level.upper())
    # Fields the JSON lines never show; skipping them makes every LogRecord cheaper (see the
    # "Optimization" section of the logging HOWTO). Process-wide, like the root handler itself.
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging._srcfile = None  # no caller lookup (sys._getframe walk) per line
    structlog.configure(
        processors=[*_native_only(chain), structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(level),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    handler.set_name("headway")
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    # uvicorn's loggers reach this handler by propagation (serve passes log_config=None); its
    # access log stays as uvicorn configured it (off): the request line replaces it.
    return handler


def _native_only(chain: Sequence[Processor]) -> list[Processor]:
    # structlog-native events have no LogRecord to lift ``extra`` from; the rest applies to both.
    return [p for p in chain if not isinstance(p, structlog.stdlib.ExtraAdder)]


def reset_logging(handler: logging.Handler) -> None:
    """Undo ``configure_logging`` (tests)."""
    logging.getLogger().removeHandler(handler)
    structlog.reset_defaults()


def bind_request(request_id: str, trace_id: str | None = None) -> Any:
    """Bind ids to every log line of the current request; returns tokens for ``unbind_request``."""
    if trace_id is None:
        return structlog.contextvars.bind_contextvars(request_id=request_id)
    return structlog.contextvars.bind_contextvars(request_id=request_id, trace_id=trace_id)


def unbind_request(tokens: Any) -> None:
    structlog.contextvars.reset_contextvars(**tokens)
