"""Estimates held until usage is known, budget periods, and the shape of the rate-limit headers."""

from __future__ import annotations

import datetime as dt

import pytest

from headway.admission import estimate
from headway.admission.headers import go_duration, ratelimit_headers, retry_after_headers, tightest
from headway.admission.periods import period_span
from headway.backends import WindowState
from headway.observe.cost import Price


def test_prompt_tokens_count_text_parts_and_message_framing() -> None:
    body = {"messages": [{"role": "user", "content": "x" * 400}, {"role": "user", "content": [{"type": "text", "text": "y" * 40}]}]}
    assert estimate.prompt_tokens(body) == 100 + 10 + 2 * estimate.TOKENS_PER_MESSAGE
    assert estimate.prompt_tokens({"input": ["a" * 8, "b" * 8]}) == 4


def test_output_tokens_follow_what_the_request_allows() -> None:
    chat: dict[str, object] = {"messages": []}
    assert estimate.output_tokens({**chat, "max_tokens": 50}, 1024) == 50
    assert estimate.output_tokens({**chat, "max_completion_tokens": 70, "n": 3}, 1024) == 210
    assert estimate.output_tokens(chat, 1024) == 1024
    assert estimate.output_tokens({"input": "x"}, 1024) == 0
    assert estimate.cost_usd(1_000_000, 2_000_000, Price(0.5, 2.0)) == pytest.approx(4.5)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (0.0123, "13ms"), (1, "1s"), (1.5, "1.5s"), (59.9994, "59.999s"), (360, "6m0s"), (3725.25, "1h2m5.25s")],
)
def test_durations_are_written_as_openai_writes_them(seconds: float, text: str) -> None:
    assert go_duration(seconds) == text


def test_headers_report_the_tightest_window_per_metric() -> None:
    roomy = WindowState(limit=100, used=10, fits=True, reset_s=30, retry_after_s=0)
    tight = WindowState(limit=5, used=4, fits=True, reset_s=12, retry_after_s=0)
    tokens = WindowState(limit=1000, used=1000, fits=False, reset_s=0.25, retry_after_s=0.25)
    headers = ratelimit_headers(tightest([roomy, tight]), tightest([tokens]))
    assert headers == {
        "x-ratelimit-limit-requests": "5",
        "x-ratelimit-remaining-requests": "1",
        "x-ratelimit-reset-requests": "12s",
        "x-ratelimit-limit-tokens": "1000",
        "x-ratelimit-remaining-tokens": "0",
        "x-ratelimit-reset-tokens": "250ms",
    }
    assert retry_after_headers(0.2) == {"retry-after": "1", "retry-after-ms": "200"}


def test_budget_periods_are_utc_calendar_spans() -> None:
    now = dt.datetime(2026, 12, 31, 23, 30, tzinfo=dt.UTC).timestamp()
    month = period_span("month", now)
    assert month.id == "2026-12" and month.end == dt.datetime(2027, 1, 1, tzinfo=dt.UTC).timestamp()
    day = period_span("day", now)
    assert day.id == "2026-12-31" and day.start == dt.datetime(2026, 12, 31, tzinfo=dt.UTC).timestamp()
    week = period_span("week", now)
    assert week.id == "2026-W53" and week.start == dt.datetime(2026, 12, 28, tzinfo=dt.UTC).timestamp()
    assert period_span("total", now).end is None
