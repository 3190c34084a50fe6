"""Backoff with full jitter, and Retry-After as a capped floor."""

from __future__ import annotations

import random

from headway.config.resilience import RetryConfig
from headway.errors import UpstreamError
from headway.routing.retry import backoff_s, retry_delay_s

POLICY = RetryConfig(backoff_initial_ms=100, backoff_max_ms=1000, retry_after_max_s=5)


def test_full_jitter_stays_under_a_doubling_cap() -> None:
    rng = random.Random(0)
    for index, cap in [(0, 0.1), (1, 0.2), (2, 0.4), (3, 0.8), (4, 1.0), (12, 1.0)]:
        draws = [backoff_s(index, POLICY, rng) for _ in range(300)]
        assert all(0 <= d <= cap for d in draws)
        assert max(draws) > cap * 0.8  # jitter spreads over the whole range, up to the cap


def test_retry_after_is_a_floor() -> None:
    rng = random.Random(0)
    error = UpstreamError("rate_limit", "slow", status=429, retry_after=2.5)
    assert retry_delay_s(error, 0, POLICY, rng) == 2.5


def test_retry_after_beyond_the_cap_means_not_now() -> None:
    error = UpstreamError("rate_limit", "slow", status=429, retry_after=60)
    assert retry_delay_s(error, 0, POLICY, random.Random(0)) is None


def test_without_retry_after_the_backoff_applies() -> None:
    error = UpstreamError("server_error", "boom", status=500)
    assert 0 <= retry_delay_s(error, 1, POLICY, random.Random(0)) <= 0.2  # type: ignore[operator]
