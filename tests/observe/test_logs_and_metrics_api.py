"""Log configuration (levels, stdlib lines, ids, redaction) and the metrics API other parts call."""

from __future__ import annotations

import io
import json
import logging
import urllib.request
from typing import Any

import openai
import pytest

from headway.config.models import LoggingConfig
from headway.observe.logs import bind_request, configure_logging, reset_logging, sparing, unbind_request
from headway.observe.metrics import Metrics
from headway.testing import GatewayThread
from tests.observe.helpers import samples, value


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_stdlib_lines_carry_request_and_trace_ids_and_extra_fields() -> None:
    stream = io.StringIO()
    handler = configure_logging(LoggingConfig(level="info"), stream=stream)
    try:
        tokens = bind_request("req_abc", "4bf92f3577b34da6a3ce929d0e0e4736")
        logging.getLogger("headway.somepart").info("did a thing", extra={"items": 3})
        unbind_request(tokens)
        logging.getLogger("headway.somepart").info("outside")
        logging.getLogger("headway.somepart").debug("too detailed")
    finally:
        reset_logging(handler)
    inside, outside = _lines(stream)
    assert inside["event"] == "did a thing" and inside["items"] == 3
    assert inside["request_id"] == "req_abc" and inside["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert inside["logger"] == "headway.somepart" and inside["level"] == "info"
    assert "request_id" not in outside


def test_level_from_config_filters_lines() -> None:
    stream = io.StringIO()
    handler = configure_logging(LoggingConfig(level="warning"), stream=stream)
    try:
        logging.getLogger("x").info("quiet")
        logging.getLogger("x").warning("loud")
    finally:
        reset_logging(handler)
    assert [line["event"] for line in _lines(stream)] == ["loud"]


def test_redaction_hook_runs_but_spares_identifiers() -> None:
    def mask(_: Any, __: str, event: Any) -> Any:
        return {k: ("***" if isinstance(v, str) else v) for k, v in event.items()}

    stream = io.StringIO()
    handler = configure_logging(LoggingConfig(level="info"), stream=stream, redact=mask)
    try:
        tokens = bind_request("req_keepme")
        logging.getLogger("x").info("hello", extra={"email": "ann@example.com"})
        unbind_request(tokens)
    finally:
        reset_logging(handler)
    [line] = _lines(stream)
    assert line["email"] == "***"
    assert line["request_id"] == "req_keepme" and line["event"] == "***" and line["level"] == "info"
    assert sparing(mask)(None, "info", {"request_id": "r", "x": "y"}) == {"request_id": "r", "x": "***"}


def test_headway_serve_logs_through_the_guards_redaction(make_config: Any) -> None:
    from headway.cli.serve import configure_logging as serve_logging

    stream = io.StringIO()
    handler = serve_logging(make_config(), stream=stream)
    try:
        logging.getLogger("x").info("mail ann.smith@example.com now")
    finally:
        reset_logging(handler)
    [line] = _lines(stream)
    assert "ann.smith@example.com" not in line["event"]


def test_request_lines_off_by_config(make_config: Any) -> None:
    stream = io.StringIO()
    handler = configure_logging(LoggingConfig(level="info"), stream=stream)
    try:
        with GatewayThread(make_config(observe={"logs": {"request_lines": False}})) as gw:
            openai.OpenAI(base_url=gw.url + "/v1", api_key="u", max_retries=0).chat.completions.create(
                model="chat", messages=[{"role": "user", "content": "x"}]
            )
            gw.flush()
    finally:
        reset_logging(handler)
    assert not [line for line in _lines(stream) if line.get("event") == "request"]


def test_metrics_api_for_other_parts_and_callback_gauges() -> None:
    metrics = Metrics(buckets=[0.1, 1.0])
    metrics.limit_rejected("rpm")
    metrics.limit_rejected("rpm")
    metrics.limit_rejected("budget")
    metrics.queue_wait(0.05, "default")
    metrics.queue_wait(2.0, "default")
    metrics.pipeline_run("docs", "failed")
    metrics.watch_mapping("headway_queue_depth", lambda: {"default": 4, "batch": 0})
    metrics.watch("headway_review_queue_items", lambda: [((), 9)])

    def broken() -> Any:
        raise RuntimeError("source down")

    metrics.watch("headway_circuit_breaker_state", broken)
    parsed = samples(metrics.render().decode())
    assert value(parsed, "headway_limit_rejections_total", limit="rpm") == 2
    assert value(parsed, "headway_limit_rejections_total", limit="budget") == 1
    assert value(parsed, "headway_queue_wait_seconds_count", queue="default") == 2
    assert value(parsed, "headway_queue_wait_seconds_bucket", queue="default", le="0.1") == 1
    assert value(parsed, "headway_pipeline_runs_total", pipeline="docs", status="failed") == 1
    assert value(parsed, "headway_queue_depth", queue="default") == 4
    assert value(parsed, "headway_review_queue_items") == 9
    assert "headway_circuit_breaker_state" not in parsed  # a failing source drops its family only
    with pytest.raises(KeyError):
        metrics.watch("headway_made_up", lambda: [])


def test_disabled_metrics_count_nothing_and_404(make_config: Any) -> None:
    with GatewayThread(make_config(observe={"metrics": {"enabled": False}})) as gw:
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(gw.url + "/metrics")
        assert caught.value.code == 404
        gw.runtime.observability.metrics.limit_rejected("rpm")
        assert b"headway_limit_rejections_total{" not in gw.runtime.observability.metrics.render()


def test_breaker_and_review_gauges_read_the_runtime(gateway: GatewayThread) -> None:
    gateway.runtime.observability.watch_review_queue(lambda: (5, 120.0))
    parsed = samples(urllib.request.urlopen(gateway.url + "/metrics").read().decode())
    assert value(parsed, "headway_review_queue_items") == 5
    assert value(parsed, "headway_review_queue_oldest_age_seconds") == 120.0
    deployments = [d for route in gateway.runtime.routes.values() for d in route.deployments]
    in_flight = parsed["headway_deployment_in_flight_requests"]
    assert len(in_flight) == len(deployments) and set(in_flight.values()) == {0.0}
    breakers = getattr(gateway.runtime.executor, "breakers", None)
    if breakers is None or not hasattr(breakers, "circuits"):
        pytest.skip("the routing part exposes no breakers")
    states = parsed.get("headway_circuit_breaker_state", {})
    assert set(states.values()) <= {0.0}


def test_configuring_logs_leaves_uvicorns_access_log_as_uvicorn_set_it() -> None:
    # uvicorn turns its access log off (propagate False) before the app factory configures logging.
    access = logging.getLogger("uvicorn.access")
    previous = access.propagate
    access.propagate = False
    handler = configure_logging(LoggingConfig(level="info"), stream=io.StringIO())
    try:
        assert access.propagate is False
    finally:
        reset_logging(handler)
        access.propagate = previous
