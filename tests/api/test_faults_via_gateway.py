"""Each simulator fault, seen through Headway (core behaviour, before the resilience features)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openai
import pytest

from headway.config.models import HeadwayConfig
from headway.testing import GatewayThread


@pytest.fixture
def fast_timeouts_gateway(make_config: Callable[..., HeadwayConfig]) -> Any:
    config = make_config(
        models={
            "chat": {
                "deployments": [{"provider": "sim", "model": "gpt-4o-mini"}],
                # 2 s, not 0.5: on CI's two shared cores (four workers) the simulator's answer to
                # the "500" case once took longer than 0.5 s and read as a 504 timeout. Only the
                # "hang" case waits these out.
                "timeouts": {"connect": 2, "first_token": 2, "idle": 2, "total": 5},
                # One attempt: each fault as it is, before retries (a resilience feature). With
                # retries, a third attempt slower than first_token on a loaded CI host turned
                # the "cut" case's 502 into the retries' last error, a 504.
                "retries": {"max_retries": 0},
            }
        }
    )
    with GatewayThread(config) as gw:
        yield gw


def ask(gw: GatewayThread, fault: str, **kwargs: Any) -> Any:
    client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key="unused", max_retries=0)
    return client.chat.completions.create(model="chat", messages=[{"role": "user", "content": f"[sim:fault={fault}]"}], **kwargs)


@pytest.mark.parametrize(
    ("fault", "error_class", "status", "kind"),
    [
        ("429", openai.RateLimitError, 429, "rate_limit"),
        ("500", openai.InternalServerError, 502, "server_error"),
        ("503", openai.InternalServerError, 502, "server_error"),
        ("hang", openai.InternalServerError, 504, "timeout"),
        ("reset", openai.InternalServerError, 502, "connection"),
        ("malformed", openai.InternalServerError, 502, "bad_response"),
        ("cut", openai.InternalServerError, 502, None),
    ],
)
def test_fault_becomes_a_clear_error(fast_timeouts_gateway: GatewayThread, fault: str, error_class: type, status: int, kind: str | None) -> None:
    with pytest.raises(error_class) as caught:
        ask(fast_timeouts_gateway, fault)
    assert caught.value.status_code == status  # type: ignore[attr-defined]
    body = caught.value.body  # type: ignore[attr-defined]
    assert body["request_id"].startswith("req_")
    attempt = body["attempts"][0]
    assert attempt["deployment"] == "sim/gpt-4o-mini"
    if kind:
        assert attempt["error"] == kind
    else:
        assert attempt["error"] in ("bad_response", "connection", "stream_cut")


def test_rate_limit_passes_retry_after(fast_timeouts_gateway: GatewayThread) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        ask(fast_timeouts_gateway, "429")
    assert int(caught.value.response.headers["retry-after"]) >= 1


def test_stream_cut_after_first_byte_makes_the_sdk_raise(fast_timeouts_gateway: GatewayThread) -> None:
    stream = ask(fast_timeouts_gateway, "cut", stream=True)
    received: list[str] = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in stream:
            if chunk.choices:
                received.append(chunk.choices[0].delta.content or "")
    assert "stream_interrupted" in str(caught.value.body) or "stream" in str(caught.value.message)
    assert received, "some content arrived before the cut"


def test_stream_failing_before_first_byte_is_a_plain_http_error(fast_timeouts_gateway: GatewayThread) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        list(ask(fast_timeouts_gateway, "500", stream=True))
    assert caught.value.status_code == 502


def test_a_stream_that_never_answers_fails_on_first_token_not_idle(make_config: Callable[..., HeadwayConfig]) -> None:
    config = make_config(
        models={
            "chat": {
                "deployments": [{"provider": "sim", "model": "gpt-4o-mini"}],
                "timeouts": {"connect": 1, "first_token": 0.5, "idle": 60, "total": 90},
            }
        }
    )
    with GatewayThread(config) as gw:
        with pytest.raises(openai.APIStatusError) as caught:
            list(ask(gw, "hang", stream=True))
        attempt = caught.value.body["attempts"][0]  # type: ignore[index]
        assert attempt["error"] == "timeout"
        assert "first token" in attempt["message"]
