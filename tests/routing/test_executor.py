"""The executor's decisions, against a scripted in-process provider: retries, failover, breaker, deadline, hedging, chain."""

from __future__ import annotations

import pytest

from headway.errors import UpstreamError
from headway.routing.executor import ExhaustedError

from .fakes import REQUEST, Sleeps, build, executor, record


def one(model: str, **extra: object) -> dict[str, object]:
    return {"deployments": [{"provider": "fake", "model": model}], **extra}


def two(a: str, b: str, **extra: object) -> dict[str, object]:
    # Weights make the first pick (almost) certainly ``a``: tests stay deterministic with any seed.
    deployments = [{"provider": "fake", "model": a, "weight": 1e6}, {"provider": "fake", "model": b, "weight": 1e-6}]
    return {"deployments": deployments, **extra}


async def test_a_retryable_failure_is_retried_then_succeeds() -> None:
    routes, provider = build({"m": one("a", retries={"max_retries": 2})})
    provider.script("a", UpstreamError("server_error", "boom", status=500))
    rec = record()
    served = await executor(routes).complete(routes["m"], REQUEST, rec)
    assert served.served_by == "retry"
    assert provider.calls["a"] == 2
    assert [(a.outcome, a.error_type) for a in rec.attempts] == [("error", "server_error"), ("ok", None)]


async def test_a_bad_request_is_never_retried() -> None:
    routes, provider = build({"m": two("a", "b", retries={"max_retries": 3})})
    provider.script("a", UpstreamError("client_error", "bad field", status=400))
    rec = record()
    with pytest.raises(ExhaustedError) as caught:
        await executor(routes).complete(routes["m"], REQUEST, rec)
    assert caught.value.cause is None
    assert provider.calls == {"a": 1}


async def test_failover_to_another_deployment_does_not_wait() -> None:
    sleeps = Sleeps()
    routes, provider = build({"m": two("a", "b")})
    provider.script("a", UpstreamError("rate_limit", "slow down", status=429, retry_after=2.0))
    served = await executor(routes, sleep=sleeps).complete(routes["m"], REQUEST, record())
    assert served.deployment is not None and served.deployment.model == "b"
    assert sleeps.waits == []


async def test_retry_on_the_same_deployment_honours_retry_after_and_backs_off() -> None:
    sleeps = Sleeps()
    routes, provider = build({"m": one("a", retries={"max_retries": 2, "backoff_initial_ms": 100})})
    provider.script(
        "a",
        UpstreamError("rate_limit", "slow down", status=429, retry_after=1.5),
        UpstreamError("server_error", "boom", status=500),
    )
    served = await executor(routes, sleep=sleeps).complete(routes["m"], REQUEST, record())
    assert served.served_by == "retry"
    assert sleeps.waits[0] == 1.5  # Retry-After is a floor on the jittered backoff (<= 0.1 s here)
    assert 0 <= sleeps.waits[1] <= 0.2  # second retry: full jitter under 2 x 100 ms


async def test_a_retry_after_beyond_the_cap_gives_up_on_that_deployment() -> None:
    sleeps = Sleeps()
    routes, provider = build({"m": one("a", retries={"max_retries": 3, "retry_after_max_s": 1})})
    provider.script("a", UpstreamError("rate_limit", "come back in an hour", status=429, retry_after=3600))
    with pytest.raises(ExhaustedError) as caught:
        await executor(routes, sleep=sleeps).complete(routes["m"], REQUEST, record())
    assert caught.value.cause == "rate_limit"
    assert provider.calls["a"] == 1 and sleeps.waits == []


async def test_retries_are_bounded() -> None:
    routes, provider = build({"m": one("a", retries={"max_retries": 2})})
    provider.script("a", *[UpstreamError("server_error", "boom", status=500)] * 10)
    rec = record()
    with pytest.raises(ExhaustedError):
        await executor(routes).complete(routes["m"], REQUEST, rec)
    assert provider.calls["a"] == 3
    assert len(rec.attempts) == 3


async def test_an_open_breaker_is_skipped_without_a_call() -> None:
    breaker = {"min_requests": 2, "failure_ratio": 0.5, "cooldown_s": 3600}
    routes, provider = build({"m": two("a", "b", breaker=breaker, retries={"max_retries": 1})})
    provider.script("a", *[UpstreamError("server_error", "boom", status=500)] * 2)
    run = executor(routes)
    for _ in range(2):
        await run.complete(routes["m"], REQUEST, record())
    assert provider.calls["a"] == 2
    rec = record()
    served = await run.complete(routes["m"], REQUEST, rec)
    assert served.deployment is not None and served.deployment.model == "b"
    assert provider.calls["a"] == 2  # not called again
    assert [(a.outcome, a.error_type) for a in rec.attempts] == [("skipped", "circuit_open"), ("ok", None)]
    assert served.served_by == "primary"  # the first real attempt answered


async def test_auth_failure_fails_over_but_is_not_retried_on_the_same_deployment() -> None:
    routes, provider = build({"m": one("a", retries={"max_retries": 3})})
    provider.script("a", UpstreamError("auth", "bad key", status=401))
    with pytest.raises(ExhaustedError):
        await executor(routes).complete(routes["m"], REQUEST, record())
    assert provider.calls["a"] == 1


async def test_the_deadline_bounds_a_slow_deployment_and_leaves_the_chain_to_degrade() -> None:
    models = {"m": one("a", deadline_s=0.05, degraded={"message": "later, please"})}
    routes, provider = build(models)
    provider.script("a", ("slow", 5.0))
    rec = record()
    served = await executor(routes).complete(routes["m"], REQUEST, rec)
    assert served.served_by == "degraded"
    assert served.result.body["choices"][0]["message"]["content"] == "later, please"
    assert rec.attempts[0].error_type == "timeout"
    assert provider.cancelled["a"] == 1


async def test_fallback_chain_by_cause() -> None:
    models = {
        "m": one("a", retries={"max_retries": 0}, fallbacks={"timeout": ["t"], "error": ["e"]}),
        "t": one("t-model"),
        "e": one("e-model"),
    }
    routes, provider = build(models)
    provider.script("a", UpstreamError("timeout", "slow"), UpstreamError("server_error", "boom", status=500))
    run = executor(routes)
    first = await run.complete(routes["m"], REQUEST, record())
    second = await run.complete(routes["m"], REQUEST, record())
    assert (first.served_by, second.served_by) == ("fallback:t", "fallback:e")
    assert provider.calls["t-model"] == 1 and provider.calls["e-model"] == 1


async def test_a_list_of_fallbacks_skips_requests_at_fault_but_covers_context_window() -> None:
    models = {"m": one("a", fallbacks=["big"]), "big": one("big-model")}
    routes, provider = build(models)
    provider.script("a", UpstreamError("context_window", "too long", status=400))
    served = await executor(routes).complete(routes["m"], REQUEST, record())
    assert served.served_by == "fallback:big"
    provider.script("a", UpstreamError("client_error", "bad", status=400))
    with pytest.raises(ExhaustedError):
        await executor(routes).complete(routes["m"], REQUEST, record())
    assert provider.calls["big-model"] == 1


class _Stale:
    def __init__(self, body: dict[str, object] | None) -> None:
        self.body = body

    async def stale_body(self) -> dict[str, object] | None:
        return self.body


async def test_after_the_chain_stale_then_degraded_model_then_error() -> None:
    models = {
        "m": one("a", retries={"max_retries": 0}, fallbacks=["f"], degraded={"model": "small"}),
        "f": one("f-model", retries={"max_retries": 0}),
        "small": one("small-model", retries={"max_retries": 0}),
    }
    routes, provider = build(models)
    run = executor(routes)
    fail = UpstreamError("server_error", "boom", status=500)
    provider.script("a", fail, fail, fail)
    provider.script("f-model", fail, fail, fail)
    stale = await run.complete(routes["m"], REQUEST, record(), stale=_Stale({"choices": [], "stale": True}))
    assert stale.served_by == "stale-cache" and stale.result.body["stale"] is True
    degraded = await run.complete(routes["m"], REQUEST, record(), stale=_Stale(None))
    assert degraded.served_by == "degraded" and degraded.deployment is not None
    assert degraded.deployment.model == "small-model"
    provider.script("small-model", fail)
    rec = record()
    with pytest.raises(ExhaustedError) as caught:
        await run.complete(routes["m"], REQUEST, rec)
    assert [a.deployment for a in caught.value.attempts] == ["fake/a", "fake/f-model", "fake/small-model"]


async def test_a_slow_first_answer_is_hedged_and_the_loser_cancelled() -> None:
    routes, provider = build({"m": two("a", "b", hedge={"after_ms": 20})})
    provider.script("a", ("slow", 5.0))
    rec = record()
    served = await executor(routes).complete(routes["m"], REQUEST, rec)
    assert served.served_by == "hedge"
    assert served.deployment is not None and served.deployment.model == "b"
    assert provider.cancelled["a"] == 1
    outcomes = sorted((a.deployment, a.outcome, a.error_type) for a in rec.attempts)
    assert outcomes == [("fake/a", "skipped", "hedge_cancelled"), ("fake/b", "ok", None)]
    assert all(d.in_flight == 0 for d in routes["m"].deployments)


async def test_a_fast_first_answer_is_not_hedged() -> None:
    routes, provider = build({"m": two("a", "b", hedge={"after_ms": 5000})})
    served = await executor(routes).complete(routes["m"], REQUEST, record())
    assert served.served_by == "primary" and provider.calls == {"a": 1}


async def test_a_hedged_stream_keeps_the_first_chunk_to_arrive() -> None:
    routes, provider = build({"m": two("a", "b", hedge={"after_ms": 20})})
    provider.script("a", ("slow", 5.0))
    run = executor(routes)
    rec = record()
    opened = await run.open(routes["m"], REQUEST, rec)
    assert opened.served_by == "hedge"
    assert opened.first.chunk["model"] == "b"
    attempt = await run.end_stream(opened, error=None, first_at=opened.started)
    assert attempt is not None and attempt.deployment == "fake/b"
    assert all(d.in_flight == 0 for d in routes["m"].deployments)


async def test_a_stream_that_fails_before_its_first_chunk_falls_back() -> None:
    routes, provider = build({"m": one("a", retries={"max_retries": 0}, fallbacks=["f"]), "f": one("f-model")})
    provider.script("a", UpstreamError("stream_cut", "cut", status=200))
    rec = record()
    opened = await executor(routes).open(routes["m"], REQUEST, rec)
    assert opened.served_by == "fallback:f"
    assert opened.first.chunk["model"] == "f-model"


async def test_a_degraded_message_reaches_a_stream_as_chunks() -> None:
    routes, provider = build({"m": one("a", retries={"max_retries": 0}, degraded={"message": "fixed text"})})
    provider.script("a", UpstreamError("server_error", "boom", status=500))
    opened = await executor(routes).open(routes["m"], REQUEST, record())
    chunks = [opened.first.chunk] + [event.chunk async for event in opened.rest]
    text = "".join((c["choices"][0]["delta"].get("content") or "") for c in chunks if c["choices"])
    assert opened.served_by == "degraded" and text == "fixed text"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 0


async def test_output_contract_is_repaired_by_a_re_ask() -> None:
    routes, provider = build({"m": one("a")})
    provider.script("a", ("text", "not json"), ("text", '{"answer": 42}'))
    request = {
        **REQUEST,
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "x", "schema": {"type": "object", "required": ["answer"]}},
        },
    }
    rec = record()
    served = await executor(routes).complete(routes["m"], request, rec)
    assert served.result.body["choices"][0]["message"]["content"] == '{"answer": 42}'
    assert rec.quality["contract"] == "repaired" and rec.quality["contract_repairs"] == 1
    re_ask = provider.requests[1][1]["messages"]
    assert re_ask[-2] == {"role": "assistant", "content": "not json"}
    assert "not valid JSON" in re_ask[-1]["content"]


async def test_a_contract_the_model_cannot_meet_falls_back_to_the_next_model() -> None:
    models = {"m": one("a", contract={"max_repairs": 1}, fallbacks=["f"]), "f": one("f-model")}
    routes, provider = build(models)
    provider.script("a", ("text", "[1]"), ("text", "[2]"))
    provider.script("f-model", ("text", '{"ok": true}'))
    request = {**REQUEST, "response_format": {"type": "json_object"}}
    rec = record()
    served = await executor(routes).complete(routes["m"], request, rec)
    assert served.served_by == "fallback:f"
    assert rec.quality["contract"] == "repaired" and rec.quality["contract_repairs"] == 1
    assert provider.calls == {"a": 2, "f-model": 1}


async def test_contract_failure_after_the_chain_is_an_error_not_a_degraded_answer() -> None:
    models = {"m": one("a", contract={"max_repairs": 1}, degraded={"message": "busy"})}
    routes, provider = build(models)
    provider.script("a", ("text", "[1]"), ("text", "[2]"))
    request = {**REQUEST, "response_format": {"type": "json_object"}}
    rec = record()
    with pytest.raises(ExhaustedError) as caught:
        await executor(routes).complete(routes["m"], request, rec)
    assert caught.value.contract_error is not None and "JSON object" in caught.value.contract_error
    assert rec.quality["contract"] == "failed" and rec.quality["contract_repairs"] == 1
    assert provider.calls["a"] == 2


async def test_a_degraded_message_that_breaks_the_contract_is_not_served() -> None:
    routes, provider = build({"m": one("a", retries={"max_retries": 0}, degraded={"message": "busy, sorry"})})
    provider.script("a", UpstreamError("server_error", "boom", status=500))
    request = {**REQUEST, "response_format": {"type": "json_object"}}
    with pytest.raises(ExhaustedError) as caught:
        await executor(routes).complete(routes["m"], request, record())
    assert caught.value.last is not None and caught.value.last.kind == "server_error"
    json_routes, json_provider = build({"m": one("a", retries={"max_retries": 0}, degraded={"message": '{"status": "busy"}'})})
    json_provider.script("a", UpstreamError("server_error", "boom", status=500))
    served = await executor(json_routes).complete(json_routes["m"], request, record())
    assert served.served_by == "degraded"
