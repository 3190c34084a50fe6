"""Metrics.observe resolves each shape of record's series once and reuses them: records of
different shapes (status, path, attempts, contract) must still land on their own series."""

from __future__ import annotations

from typing import Any

from headway.observe.metrics import Metrics
from headway.types import Attempt, RequestRecord

DEP = "up/gpt"


def _attempt(outcome: str = "ok", error_type: str | None = None, deployment: str = DEP) -> Attempt:
    return Attempt(deployment=deployment, provider="up", model="gpt", outcome=outcome, latency_ms=20.0, error_type=error_type)  # type: ignore[arg-type]


def _record(**overrides: Any) -> RequestRecord:
    values: dict[str, Any] = {
        "request_id": "r", "endpoint": "chat.completions", "model": "chat", "team": "t", "status_code": 200,
        "latency_ms": 30.0, "input_tokens": 9, "output_tokens": 1, "cost_usd": 0.5, "served_by": "primary",
        "deployment": DEP, "attempts": [_attempt()],
    }
    values.update(overrides)
    return RequestRecord(**values)


def _value(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def test_each_shape_of_record_counts_on_its_own_series() -> None:
    metrics = Metrics(buckets=(0.01, 0.1, 1.0))
    records = [
        _record(),
        _record(status_code=502, served_by=None, error_type="upstream_error", attempts=[_attempt("error", "server_error")]),
        _record(served_by="retry", attempts=[_attempt("error", "rate_limited"), _attempt()]),
        _record(served_by="fallback:small", deployment="up/small", attempts=[_attempt("error", "timeout"), _attempt(deployment="up/small")]),
        _record(served_by="cache", deployment=None, attempts=[], input_tokens=0, output_tokens=0, cost_usd=0.0),
        _record(quality={"contract": "repaired", "contract_repairs": 2}),
        _record(output_tokens=0, reasoning_tokens=4, cache_read_tokens=3, ttft_ms=15.0),
    ]
    # Each differs from the first record in one field only.
    alike = [
        _record(status_code=499),
        _record(served_by="hedge"),
        _record(deployment="up/other"),
        _record(attempts=[_attempt(deployment="up/other")]),
    ]
    for _ in range(3):  # the second and third rounds reuse what the first resolved
        for record in records:
            metrics.observe(record)
    for record in alike:
        metrics.observe(record)
    assert _value(metrics, "headway_requests_total", endpoint="chat.completions", model="chat", deployment=DEP, status="499", served_by="primary") == 1
    assert _value(metrics, "headway_answers_total", model="chat", path="hedge") == 1
    assert _value(metrics, "headway_requests_total", endpoint="chat.completions", model="chat", deployment="up/other", status="200", served_by="primary") == 1
    assert _value(metrics, "headway_upstream_attempts_total", deployment="up/other", outcome="ok", error_type="") == 1
    for record in alike:
        metrics.observe(record)

    requests = "headway_requests_total"
    base = {"endpoint": "chat.completions", "model": "chat"}
    assert _value(metrics, requests, **base, deployment=DEP, status="200", served_by="primary") == 9 + 2
    assert _value(metrics, requests, **base, deployment=DEP, status="502", served_by="") == 3
    assert _value(metrics, requests, **base, deployment=DEP, status="200", served_by="retry") == 3
    assert _value(metrics, requests, **base, deployment="up/small", status="200", served_by="fallback:small") == 3
    assert _value(metrics, requests, **base, deployment="", status="200", served_by="cache") == 3
    assert _value(metrics, "headway_request_duration_seconds_count", **base) == 21 + 8

    answers = "headway_answers_total"
    assert _value(metrics, answers, model="chat", path="primary") == 9 + 4
    assert _value(metrics, answers, model="chat", path="hedge") == 2
    assert _value(metrics, answers, model="chat", path="error") == 3 + 2
    assert _value(metrics, requests, **base, deployment=DEP, status="499", served_by="primary") == 2
    assert _value(metrics, requests, **base, deployment="up/other", status="200", served_by="primary") == 2
    assert _value(metrics, answers, model="chat", path="retry") == 3
    assert _value(metrics, answers, model="chat", path="fallback") == 3
    assert _value(metrics, answers, model="chat", path="cache") == 3
    assert _value(metrics, "headway_cache_hits_total", model="chat", served_by="cache") == 3
    assert _value(metrics, "headway_fallbacks_total", model="chat", served_by="retry") == 3
    assert _value(metrics, "headway_fallbacks_total", model="chat", served_by="fallback:small") == 3
    assert _value(metrics, "headway_retries_total", model="chat") == 6  # retry and fallback: one each, 3 rounds

    attempts = "headway_upstream_attempts_total"
    assert _value(metrics, attempts, deployment=DEP, outcome="ok", error_type="") == 12 + 6
    assert _value(metrics, attempts, deployment="up/other", outcome="ok", error_type="") == 2
    assert _value(metrics, attempts, deployment=DEP, outcome="error", error_type="server_error") == 3
    assert _value(metrics, attempts, deployment=DEP, outcome="error", error_type="rate_limited") == 3
    assert _value(metrics, attempts, deployment=DEP, outcome="error", error_type="timeout") == 3
    assert _value(metrics, attempts, deployment="up/small", outcome="ok", error_type="") == 3
    assert _value(metrics, "headway_upstream_attempt_duration_seconds_count", deployment=DEP) == 21 + 6
    assert _value(metrics, "headway_upstream_attempt_duration_seconds_count", deployment="up/small") == 3

    assert _value(metrics, "headway_output_contract_total", model="chat", outcome="repaired") == 3
    assert _value(metrics, "headway_output_contract_repairs_total", model="chat") == 6
    tokens = "headway_tokens_total"
    assert _value(metrics, tokens, model="chat", deployment=DEP, type="input") == 9 * (15 + 6)
    assert _value(metrics, tokens, model="chat", deployment=DEP, type="output") == 12 + 6
    assert _value(metrics, tokens, model="chat", deployment=DEP, type="reasoning") == 12
    assert _value(metrics, tokens, model="chat", deployment=DEP, type="cache_read") == 9
    assert _value(metrics, "headway_time_to_first_token_seconds_count", model="chat") == 3
    assert _value(metrics, "headway_cost_usd_total", model="chat", team="t") == 0.5 * (18 + 8)


def test_a_token_kind_never_used_has_no_series() -> None:
    metrics = Metrics(buckets=(0.1,))
    metrics.observe(_record())
    metrics.observe(_record())
    text = metrics.render().decode()
    assert 'type="input"' in text and 'type="output"' in text
    assert 'type="reasoning"' not in text and 'type="cache_read"' not in text
