"""A storm of provider faults through the gateway: the dashboard, /metrics and the alerts all show it.

Before the storm only primary answers: no fallback or degraded counts, the breaker closed,
no alert firing (so each signal can say "not ok" only because of the storm). Then the
primary model fails (faults queued in the simulator for its upstream model only), so
answers come from the fallback model, its breaker opens, and requests whose every model
fails get the degraded message. Every signal must show it: answers by path, "not by the
model asked for", the open breaker, and the default alert rules firing.

A second test runs a pipeline and asks a RAG question: the pipeline and retrieval series
appear on the dashboard.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import openai
import pytest

from headway.config.loader import parse_config
from headway.config.models import HeadwayConfig
from headway.store.base import RequestQuery
from headway.testing import GatewayThread
from tests.conftest import base_config
from tests.observe.helpers import samples, total, value

PRIMARY = "chat/sim/gpt-4o-mini"  # breaker key: route/provider/model
FALLBACKS = 6
DEGRADED = 4


def _config(sim: Any, store_url: str, tmp_path: Path, **extra: Any) -> HeadwayConfig:
    raw = base_config(
        sim.url, store_url, tmp_path / "spill",
        observe={
            "alerts": {
                "interval_s": 3600,  # evaluated by the test, not by the clock
                "rules": [
                    {"name": "fallback-rate", "kind": "fallback_rate", "threshold": 0.2, "window_s": 600, "min_requests": 5},
                    {"name": "degraded-rate", "kind": "degraded_rate", "threshold": 0.1, "window_s": 600, "min_requests": 5},
                    {"name": "breaker-open", "kind": "breaker_open", "threshold": 0, "severity": "critical"},
                    {"name": "error-rate", "kind": "error_rate", "threshold": 0.05, "window_s": 600, "min_requests": 5},
                ],
            }
        },
        **extra,
    )
    raw["models"]["chat"].update(
        retries={"max_retries": 0},
        breaker={"failure_ratio": 0.5, "window_s": 60, "min_requests": 4, "cooldown_s": 600},
        fallbacks=["claude"],
        degraded={"message": "We cannot answer right now."},
    )
    raw["models"]["claude"].update(retries={"max_retries": 0}, degraded={"message": "We cannot answer right now."})
    return parse_config(raw)


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        body = response.read().decode()
    return json.loads(body) if body.startswith("{") else body


def _queue_faults(sim: Any, model: str, count: int) -> None:
    request = urllib.request.Request(
        f"{sim.url}/sim/faults", data=json.dumps({"fault": "500", "model": model, "count": count}).encode(), method="POST",
        headers={"content-type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=5).read()


def _firing(gw: GatewayThread) -> set[str]:
    evaluator = gw.runtime.observability.alerts
    assert evaluator is not None
    gw.run(evaluator.run_once())
    return {s.rule for s in gw.runtime.observability.alert_states.states() if s.state == "firing"}


def test_fault_storm_shows_on_dashboard_metrics_and_alerts(sim: Any, store_url: str, tmp_path: Path) -> None:
    with GatewayThread(_config(sim, store_url, tmp_path)) as gw:
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0)
        for index in range(5):
            client.chat.completions.create(model="chat", messages=[{"role": "user", "content": f"calm {index}"}])
        gw.flush()
        calm = _get(gw.url + "/console/api/dashboard?window=1h")
        assert calm["totals"]["paths"]["primary"] == 5 and calm["totals"]["not_asked_model"] == 0
        assert {b["deployment"]: b["state"] for b in calm["signals"]["breakers"]}[PRIMARY] == "closed"
        assert _firing(gw) == set()

        # The storm: the primary's upstream fails; the fallback answers, then the breaker opens.
        served: list[str] = []
        for index in range(FALLBACKS):
            _queue_faults(sim, "gpt-4o-mini", 1)
            reply = client.chat.completions.with_raw_response.create(
                model="chat", messages=[{"role": "user", "content": f"storm {index}"}]
            )
            served.append(reply.headers["x-headway-served-by"])
        assert served == ["fallback:claude"] * FALLBACKS
        # Every model fails: the degraded message answers (200, not a 5xx).
        for index in range(DEGRADED):
            reply = client.chat.completions.with_raw_response.create(
                model="chat", messages=[{"role": "user", "content": f"all down {index} [sim:fault=500]"}]
            )
            assert reply.http_response.status_code == 200 and reply.headers["x-headway-served-by"] == "degraded"
        urllib.request.urlopen(urllib.request.Request(f"{sim.url}/sim/faults", method="DELETE"), timeout=5).read()
        gw.flush()

        # The dashboard's data.
        board = _get(gw.url + "/console/api/dashboard?window=1h")
        paths = board["totals"]["paths"]
        assert paths["fallback"] == FALLBACKS and paths["degraded"] == DEGRADED and paths["primary"] == 5
        assert board["totals"]["not_asked_model"] == FALLBACKS + DEGRADED
        assert sum(board["series"]["paths"]["fallback"]) == FALLBACKS
        assert sum(board["series"]["not_asked_model"]) == FALLBACKS + DEGRADED
        breakers = {b["deployment"]: b["state"] for b in board["signals"]["breakers"]}
        assert breakers[PRIMARY] == "open"

        # /metrics.
        parsed = samples(_get(gw.url + "/metrics"))
        assert value(parsed, "headway_answers_total", model="chat", path="fallback") == FALLBACKS
        assert value(parsed, "headway_answers_total", model="chat", path="degraded") == DEGRADED
        assert value(parsed, "headway_answers_total", model="chat", path="primary") == 5
        assert value(parsed, "headway_circuit_breaker_state", deployment=PRIMARY) == 2
        records = gw.runtime.store.list_requests(RequestQuery(limit=100))
        extra_calls = sum(max(0, sum(a.outcome != "skipped" for a in r.attempts) - 1) for r in records)
        assert extra_calls >= 1 and total(parsed, "headway_retries_total", model="chat") == extra_calls
        assert any(a.outcome == "skipped" for r in records for a in r.attempts)  # the open breaker skipped the primary

        # The default alert rules: fallback and degraded rates and the open breaker fire; 5xx do not.
        firing = _firing(gw)
        assert {"fallback-rate", "degraded-rate", "breaker-open"} <= firing
        assert "error-rate" not in firing  # nothing reached the caller as a 5xx: exactly why the others exist
        board = _get(gw.url + "/console/api/dashboard?window=1h")
        alerts = {a["rule"]: a["state"] for a in board["signals"]["alerts"]}
        assert alerts["breaker-open"] == "firing" and alerts["fallback-rate"] == "firing"
        parsed = samples(_get(gw.url + "/metrics"))
        assert value(parsed, "headway_alert_firing", rule="breaker-open") == 1


@pytest.mark.slow
def test_pipeline_and_retrieval_series_after_a_run_and_a_query(sim: Any, store_url: str, tmp_path: Path) -> None:
    knowledge = tmp_path / "knowledge"
    knowledge.mkdir()
    (knowledge / "refunds.md").write_text("# Refunds\n\nRefunds reach the card within five business days.\n")
    config = _config(
        sim, store_url, tmp_path,
        pipelines={
            "definitions": {
                "kb": {"source": {"type": "folder", "path": str(knowledge)}, "index": {"collection": "kb", "embeddings": "embed"}}
            },
            "scheduler": {"poll_s": 0.2},
        },
    )
    with GatewayThread(config) as gw:
        empty = _get(gw.url + "/console/api/dashboard?window=1h")
        assert empty["pipeline_runs"] == {} and empty["retrieval"]["outcomes"] == {}
        pipelines = gw.runtime.pipelines
        assert pipelines is not None
        run = gw.run(pipelines.run_now("kb"), timeout=60)
        assert run.status == "ok"
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0)
        client.chat.completions.create(
            model="chat", messages=[{"role": "user", "content": "When do refunds arrive?"}],
            extra_body={"retrieval": {"collections": ["kb"]}},
        )
        gw.flush()
        board = _get(gw.url + "/console/api/dashboard?window=1h")
        assert board["pipeline_runs"] == {"ok": 1}
        assert board["retrieval"]["outcomes"] == {"hit": 1}
        assert board["retrieval"]["p95_ms"] is not None


def test_answer_paths_contracts_and_retries_from_records() -> None:
    from headway.observe.metrics import Metrics, served_path
    from headway.types import Attempt, RequestRecord

    assert [served_path(s, c) for s, c in [
        (None, 200), ("primary", 200), ("retry", 200), ("hedge", 200), ("fallback:claude", 200), ("cache", 200),
        ("cache:semantic", 200), ("stale-cache", 200), ("degraded", 200), ("primary", 502), (None, 429), ("fallback:x", 500),
    ]] == ["primary", "primary", "retry", "hedge", "fallback", "cache", "cache", "stale-cache", "degraded", "error", "error", "error"]
    metrics = Metrics(buckets=[0.1, 1.0])
    call = Attempt("m/sim/x", "sim", "x", "error", 1.0, 500, "server_error")
    skipped = Attempt("m/sim/x", "sim", "x", "skipped", 0.0, None, "circuit_open")
    good = Attempt("b/sim/y", "sim", "y", "ok", 2.0, 200)
    metrics.observe(RequestRecord("r1", "chat.completions", "m", status_code=200, served_by="fallback:b", attempts=[call, call, good],
                                  quality={"contract": "repaired", "contract_repairs": 2}))
    metrics.observe(RequestRecord("r2", "chat.completions", "m", status_code=200, served_by="fallback:b", attempts=[skipped, good],
                                  quality={"contract": "failed", "contract_repairs": 1}))
    metrics.observe(RequestRecord("r3", "chat.completions", "m", status_code=200, served_by="primary", attempts=[good],
                                  quality={"contract": "passed", "contract_repairs": 0}))
    parsed = samples(metrics.render().decode())
    assert value(parsed, "headway_answers_total", model="m", path="fallback") == 2
    assert value(parsed, "headway_answers_total", model="m", path="primary") == 1
    assert value(parsed, "headway_retries_total", model="m") == 2  # r1: two calls after the first; r2: the skip is no call
    for outcome in ("passed", "repaired", "failed"):
        assert value(parsed, "headway_output_contract_total", model="m", outcome=outcome) == 1
    assert value(parsed, "headway_output_contract_repairs_total", model="m") == 3
    assert metrics.samples(["headway_answers_total"])["headway_answers_total"]


@pytest.mark.redis
def test_a_breaker_opened_on_one_replica_shows_on_another_through_redis(sim: Any, store_url: str, tmp_path: Path) -> None:
    import time

    from tests.scale.services import SHARED_REDIS, redis_prefix

    with redis_prefix() as prefix:
        config = _config(sim, store_url, tmp_path, redis={"url": SHARED_REDIS, "key_prefix": prefix})
        with GatewayThread(config) as first, GatewayThread(config) as second:
            client = openai.OpenAI(base_url=first.url + "/v1", api_key="unused", max_retries=0)
            for index in range(6):
                _queue_faults(sim, "gpt-4o-mini", 1)
                client.chat.completions.create(model="chat", messages=[{"role": "user", "content": f"trip {index}"}])
            urllib.request.urlopen(urllib.request.Request(f"{sim.url}/sim/faults", method="DELETE"), timeout=5).read()
            # The second replica served nothing: it learns the state from Redis in the background.
            deadline = time.monotonic() + 10
            while True:
                state = samples(_get(second.url + "/metrics")).get("headway_circuit_breaker_state", {})
                opened = [v for labels, v in state.items() if ("deployment", PRIMARY) in labels]
                if opened == [2.0] or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert opened == [2.0], state
            board = _get(second.url + "/console/api/dashboard?window=1h")
            assert {b["deployment"]: b["state"] for b in board["signals"]["breakers"]}[PRIMARY] == "open"
            assert "breaker-open" in _firing(second)
