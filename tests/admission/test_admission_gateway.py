"""Admission on the request path of a real gateway: 429s that say which limit, headers, budgets, shedding."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from typing import Any

import openai
import pytest

from headway.admission.estimate import TOKENS_PER_MESSAGE
from headway.config.models import HeadwayConfig
from headway.errors import APIError
from headway.serving.chat import serve_chat
from headway.store import RequestQuery
from headway.testing import GatewayThread
from headway.types import CallContext
from tests.http import post_json

CHAT = "/v1/chat/completions"


def ask(url: str, content: str = "hello", **extra: Any) -> Any:
    return post_json(url + CHAT, {"model": "chat", "messages": [{"role": "user", "content": content}], **extra})


def test_a_request_limit_refuses_with_429_naming_the_limit_and_when_to_retry(
    make_config: Callable[..., HeadwayConfig],
) -> None:
    config = make_config(admission={"limits": {"models": {"chat": {"requests_per_minute": 3}}}})
    with GatewayThread(config) as gw:
        replies = [ask(gw.url, max_tokens=5) for _ in range(4)]
        assert [r.status for r in replies] == [200, 200, 200, 429]
        assert [r.headers["x-ratelimit-remaining-requests"] for r in replies] == ["2", "1", "0", "0"]
        assert all(r.headers["x-ratelimit-limit-requests"] == "3" for r in replies)
        refused = replies[-1]
        error = refused.json()["error"]
        assert error["code"] == "rate_limit_exceeded" and error["type"] == "rate_limit_error"
        assert "requests per minute for model 'chat'" in error["message"]
        assert error["limit"] == {"scope": "model", "name": "chat", "metric": "requests", "limit": 3, "window_s": 60.0}
        assert 55 <= int(refused.headers["retry-after"]) <= 60
        assert 55_000 <= int(refused.headers["retry-after-ms"]) <= 60_000
        # Another model is not limited.
        other = post_json(gw.url + CHAT, {"model": "claude", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5})
        assert other.status == 200 and "x-ratelimit-limit-requests" not in other.headers
        # The refusal is on record like every other request.
        record = gw.record(refused.headers["x-request-id"])
        assert record.status_code == 429 and record.error_type == "rate_limit_exceeded" and not record.attempts


def test_the_openai_sdk_sees_a_rate_limit_error(make_config: Callable[..., HeadwayConfig]) -> None:
    config = make_config(admission={"limits": {"keys": {"*": {"requests_per_minute": 1}}}})
    with GatewayThread(config) as gw:
        client = openai.OpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0)
        first = client.chat.completions.with_raw_response.create(model="chat", messages=[{"role": "user", "content": "a"}], max_tokens=3)
        assert first.headers["x-ratelimit-remaining-requests"] == "0"
        with pytest.raises(openai.RateLimitError) as refused:
            client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "b"}], max_tokens=3)
        assert refused.value.code == "rate_limit_exceeded" and "key 'anonymous'" in refused.value.message


def test_token_limits_count_max_tokens_then_settle_to_the_real_usage(make_config: Callable[..., HeadwayConfig]) -> None:
    config = make_config(admission={"limits": {"models": {"chat": {"tokens_per_minute": 2_000}}}})
    with GatewayThread(config) as gw:
        too_big = ask(gw.url, max_tokens=2_500)
        assert too_big.status == 429 and too_big.headers["x-should-retry"] == "false"
        assert "Request too large" in too_big.json()["error"]["message"]
        first = ask(gw.url, "x" * 40, max_tokens=1_500)
        assert first.status == 200
        estimate = 10 + TOKENS_PER_MESSAGE + 1_500
        assert int(first.headers["x-ratelimit-remaining-tokens"]) == 2_000 - estimate
        # Before settling, a second request of this size would not fit; after, it does.
        record = gw.record(first.headers["x-request-id"])
        used = record.input_tokens + record.output_tokens
        assert used < 100
        second = ask(gw.url, "x" * 40, max_tokens=1_500)
        assert second.status == 200
        assert int(second.headers["x-ratelimit-remaining-tokens"]) == 2_000 - used - estimate


def test_a_budget_stops_spending_within_one_estimate_of_its_cap(make_config: Callable[..., HeadwayConfig]) -> None:
    # Price 1,000 USD per million output tokens: max_tokens=20 reserves about $0.02 a request.
    config = make_config(
        models={
            "chat": {"deployments": [{"provider": "sim", "model": "gpt-4o-mini"}], "price": {"input": 100.0, "output": 1000.0}},
        },
        admission={"budgets": {"keys": {"*": {"usd": 0.1, "period": "day"}}}},
    )
    with GatewayThread(config) as gw:
        statuses = []
        for _ in range(40):
            reply = ask(gw.url, "spend", max_tokens=20)
            statuses.append(reply.status)
            if reply.status == 429:
                break
            gw.record(reply.headers["x-request-id"])  # settled before the next, as a steady client would see
        assert statuses[-1] == 429 and set(statuses[:-1]) == {200}
        error = reply.json()["error"]
        assert error["code"] == "budget_exceeded" and reply.headers["x-should-retry"] == "false"
        assert error["budget"]["period"] == "day" and int(reply.headers["retry-after"]) <= 86_400
        gw.flush()
        spent = sum(r.cost_usd or 0 for r in gw.runtime.store.list_requests(RequestQuery(limit=100)))
        estimate = (2 + TOKENS_PER_MESSAGE) * 100 / 1e6 + 20 * 1000 / 1e6
        assert 0.1 - estimate <= spent <= 0.1


def test_budgets_start_from_the_spend_already_in_the_request_log(make_config: Callable[..., HeadwayConfig]) -> None:
    config = make_config(
        models={"chat": {"deployments": [{"provider": "sim", "model": "gpt-4o-mini"}], "price": {"input": 100.0, "output": 1000.0}}},
    )
    with GatewayThread(config) as gw:
        for _ in range(3):
            assert ask(gw.url, max_tokens=20).status == 200
        gw.flush()
        spent = sum(r.cost_usd or 0 for r in gw.runtime.store.list_requests(RequestQuery(limit=100)))
    # A restart with a budget just under what was spent: the log says it is gone.
    limited = config.model_copy(update={"admission": config.admission.model_validate({"budgets": {"keys": {"anonymous": {"usd": spent * 0.99}}}})})
    with GatewayThread(limited) as gw:
        refused = ask(gw.url, max_tokens=20)
        assert refused.status == 429 and refused.json()["error"]["code"] == "budget_exceeded"


def test_a_keys_own_limits_apply_on_the_request_path(gateway: GatewayThread) -> None:
    def call(request_id: str) -> int:
        ctx = CallContext(request_id, caller="svc-a", attributes={"admission": {"requests_per_minute": 1}})
        body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3}
        try:
            gateway.run(serve_chat(gateway.runtime, ctx, body))
        except APIError as exc:
            return exc.status
        return 200

    assert [call("key-a-1"), call("key-a-2")] == [200, 429]


def test_a_full_deployment_queue_sheds_with_503_and_retry_after(make_config: Callable[..., HeadwayConfig]) -> None:
    config = make_config(admission={"deployments": {"sim/gpt-4o-mini": {"max_in_flight": 1, "max_queue": 1}}})
    with GatewayThread(config) as gw:
        slow = "[sim:latency_ms=600] hold"
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            replies = list(pool.map(lambda _: ask(gw.url, slow, max_tokens=3), range(4)))
        statuses = sorted(r.status for r in replies)
        assert statuses.count(200) >= 2 and set(statuses) <= {200, 503} and 503 in statuses
        shed = next(r for r in replies if r.status == 503)
        error = shed.json()["error"]
        assert error["code"] == "overloaded" and error["reason"] in {"queue_full", "deadline"}
        assert int(shed.headers["retry-after"]) >= 1
        assert gw.record(shed.headers["x-request-id"]).status_code == 503
        queue = gw.runtime.admission.queues["sim/gpt-4o-mini"]
        assert queue.in_flight == 0 and queue.waiting == 0
