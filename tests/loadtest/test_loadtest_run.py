"""``run_load`` against a local target: counts, bounds, error kinds, cost and streaming timings."""

from __future__ import annotations

import math

import pytest
from loadtest_target import COMPLETION_TOKENS, PROMPT_TOKENS, LoadTarget

from headway.errors import ConfigError
from headway.loadtest import LoadConfig, parse_slo, run_load
from headway.loadtest.drivers import arrival_offsets


def config(target: LoadTarget, **options: object) -> LoadConfig:
    return LoadConfig(base_url=target.base_url, model="test-model", **options)  # type: ignore[arg-type]


async def test_every_request_sent_reaches_the_target(target: LoadTarget) -> None:
    report = await run_load(config(target, concurrency=(1, 4), requests=60))
    assert [step.sent for step in report.steps] == [60, 60]
    assert target.state.received == 120
    assert [step.ok for step in report.steps] == [60, 60]
    assert all(step.latency_ms is not None and step.latency_ms.count == 60 for step in report.steps)


async def test_closed_loop_never_exceeds_its_concurrency(target: LoadTarget) -> None:
    target.state.delay_s = 0.002  # responses overlap, so the bound is what limits in-flight requests
    report = await run_load(config(target, concurrency=(5,), requests=100))
    assert target.state.max_in_flight == 5
    assert report.steps[0].max_in_flight == 5


async def test_duration_bound_stops_the_step_and_counts_match(target: LoadTarget) -> None:
    report = await run_load(config(target, concurrency=(2,), duration_s=0.3))
    step = report.steps[0]
    assert step.sent == target.state.received > 0
    assert step.ok == step.sent


async def test_open_loop_constant_rate_sends_rate_times_duration(target: LoadTarget) -> None:
    report = await run_load(config(target, rates=(200.0,), duration_s=0.5))
    step = report.steps[0]
    assert step.mode == "open" and step.rate == 200.0
    assert step.sent == target.state.received == 100  # due at 0, 5 ms, ... 495 ms
    assert step.dropped == 0


async def test_open_loop_poisson_follows_its_seeded_schedule(target: LoadTarget) -> None:
    report = await run_load(config(target, rates=(200.0,), arrival="poisson", duration_s=0.5, seed=7))
    due = 0
    for offset in arrival_offsets(200.0, "poisson", 7):
        if offset >= 0.5:
            break
        due += 1
    assert 60 <= due <= 140  # a Poisson count around rate x duration = 100
    assert report.steps[0].sent == target.state.received == due


async def test_open_loop_does_not_wait_for_slow_answers(target: LoadTarget) -> None:
    target.state.delay_s = 0.6  # far longer than the 0.2 s of arrivals, even on a busy machine
    report = await run_load(config(target, rates=(100.0,), duration_s=0.2))
    assert report.steps[0].sent == target.state.received == 20
    assert target.state.max_in_flight == 20  # all were sent before the first could answer


async def test_open_loop_drops_arrivals_beyond_max_in_flight(target: LoadTarget) -> None:
    target.state.delay_s = 0.6  # none of the first five answers before the 0.25 s of arrivals end
    report = await run_load(config(target, rates=(200.0,), duration_s=0.25, max_in_flight=5))
    step = report.steps[0]
    assert step.sent == target.state.received == 5
    assert step.dropped == 45
    assert step.max_in_flight == 5


async def test_errors_are_classified_with_exact_counts(target: LoadTarget) -> None:
    target.state.pattern = ["ok", "500", "429", "cut", "bad", "drop", "ok", "ok", "ok", "ok"]
    report = await run_load(config(target, concurrency=(3,), requests=50))
    step = report.steps[0]
    assert step.errors == {"bad_body": 5, "connection": 5, "http_429": 5, "http_500": 5, "stream_cut": 5}
    assert step.ok == 25
    assert step.error_rate == pytest.approx(0.5)
    assert "injected 500" in step.error_samples["http_500"]
    assert step.latency_ms is not None and step.latency_ms.count == 25


async def test_stream_failures_are_classified_with_exact_counts(target: LoadTarget) -> None:
    target.state.pattern = ["ok", "cut", "stream_error", "no_done", "500"]
    report = await run_load(config(target, concurrency=(2,), requests=25, stream=True))
    step = report.steps[0]
    assert step.errors == {"http_500": 5, "stream_cut": 10, "stream_error": 5}
    assert step.ok == 5


async def test_requests_that_outlive_the_timeout_count_as_timeouts(target: LoadTarget) -> None:
    target.state.pattern = ["ok", "hang"]
    report = await run_load(config(target, concurrency=(2,), requests=4, timeout_s=0.2))
    assert report.steps[0].errors == {"timeout": 2}
    assert report.steps[0].ok == 2


async def test_connection_refused_is_a_connection_error() -> None:
    unused = LoadTarget()
    await unused.start()
    await unused.stop()  # the port is now closed
    report = await run_load(LoadConfig(base_url=unused.base_url, requests=3))
    assert report.steps[0].errors == {"connection": 3}


async def test_cost_is_tokens_times_price(target: LoadTarget) -> None:
    report = await run_load(config(target, requests=20, price_input=2.5, price_output=10.0))
    step = report.steps[0]
    assert step.input_tokens == 20 * PROMPT_TOKENS
    assert step.output_tokens == 20 * COMPLETION_TOKENS
    expected = (20 * PROMPT_TOKENS * 2.5 + 20 * COMPLETION_TOKENS * 10.0) / 1_000_000
    assert step.cost_usd == pytest.approx(expected)
    assert step.cost_source == "price"


async def test_cost_header_wins_over_the_price(target: LoadTarget) -> None:
    target.state.cost_header = "0.0125"
    report = await run_load(config(target, requests=8, price_input=1000.0, stream=True))
    assert report.steps[0].cost_usd == pytest.approx(8 * 0.0125)
    assert report.steps[0].cost_source == "header"


async def test_no_price_and_no_header_means_no_cost(target: LoadTarget) -> None:
    report = await run_load(config(target, requests=3))
    assert report.steps[0].cost_usd is None
    assert report.steps[0].input_tokens == 3 * PROMPT_TOKENS


async def test_streaming_measures_first_token_and_inter_token_latency(target: LoadTarget) -> None:
    report = await run_load(config(target, concurrency=(2,), requests=20, stream=True))
    step = report.steps[0]
    assert step.ok == 20
    assert step.output_tokens == 20 * COMPLETION_TOKENS  # from the final usage chunk
    assert step.ttft_ms is not None and step.itl_ms is not None and step.latency_ms is not None
    assert step.ttft_ms.count == step.itl_ms.count == 20
    # Each request's first token precedes its end, so every order statistic does too.
    assert step.ttft_ms.p50 <= step.latency_ms.p50
    assert step.ttft_ms.max <= step.latency_ms.max
    assert all(
        body["stream"] and body["stream_options"] == {"include_usage": True} for body in target.state.bodies
    )


async def test_request_bodies_carry_the_options(target: LoadTarget) -> None:
    await run_load(config(target, requests=6, prompt_tokens=25, max_tokens=9, unique_prompts=True))
    bodies = target.state.bodies
    assert all(body["model"] == "test-model" and body["max_tokens"] == 9 for body in bodies)
    prompts = [body["messages"][0]["content"] for body in bodies]
    assert len(set(prompts)) == 6
    assert all(len(prompt.split()) == 25 + 1 for prompt in prompts)  # 25 filler words + the sequence number


async def test_embeddings_endpoint(target: LoadTarget) -> None:
    report = await run_load(config(target, endpoint="embeddings", requests=5, price_input=1.0))
    step = report.steps[0]
    assert step.ok == 5
    assert all("input" in body for body in target.state.bodies)
    assert step.cost_usd == pytest.approx(5 * PROMPT_TOKENS / 1_000_000)


async def test_slos_from_the_config_are_judged_into_the_report(target: LoadTarget) -> None:
    target.state.pattern = ["ok", "500"]
    report = await run_load(config(target, requests=10))
    assert report.passed and report.slo_results == []
    report = await run_load(config(target, requests=10, slos=tuple(parse_slo("error_rate=0.1,p99_ms=60000"))))
    verdicts = {result.key: result.passed for result in report.slo_results}
    assert verdicts == {"error_rate": False, "p99_ms": True}
    assert not report.passed


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"stream": True, "endpoint": "embeddings"}, "--stream"),
        ({"rates": (-1.0,)}, "--rate"),
        ({"concurrency": (0,)}, "--concurrency"),
        ({"duration_s": math.inf}, "--duration"),
        ({"base_url": "localhost:8080"}, "--base-url"),
    ],
)
def test_invalid_options_name_the_option(options: dict[str, object], option: str) -> None:
    with pytest.raises(ConfigError, match=option):
        LoadConfig(**{"base_url": "http://127.0.0.1:1/v1", **options})  # type: ignore[arg-type]


def test_an_unbounded_config_gets_a_default_duration() -> None:
    assert LoadConfig(base_url="http://127.0.0.1:1/v1").duration_s == 10.0
    assert LoadConfig(base_url="http://127.0.0.1:1/v1", requests=5).duration_s is None


def test_the_config_snapshot_never_holds_secrets() -> None:
    snapshot = LoadConfig(
        base_url="http://127.0.0.1:1/v1", api_key="sk-secret", headers={"X-Token": "hidden"}
    ).to_dict()
    assert "sk-secret" not in str(snapshot) and "hidden" not in str(snapshot)
    assert snapshot["api_key"] == "***" and snapshot["header_names"] == ["X-Token"]
