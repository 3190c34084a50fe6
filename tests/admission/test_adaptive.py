"""AIMD: back off as upstream latency rises or it signals overload, recover as it falls."""

from __future__ import annotations

from headway.admission.adaptive import AimdLimit


def feed(limit: AimdLimit, latency_s: float, count: int, *, overloaded: bool = False) -> None:
    for _ in range(count):
        limit.observe(latency_s, overloaded=overloaded)


def test_steady_latency_keeps_the_ceiling() -> None:
    limit = AimdLimit(ceiling=16, floor=2)
    feed(limit, 0.1, 500)
    assert limit.limit == 16 and limit.decreases == 0


def test_rising_latency_lowers_the_limit_but_not_below_the_floor() -> None:
    limit = AimdLimit(ceiling=16, floor=2)
    feed(limit, 0.1, 200)
    feed(limit, 0.5, 40)
    lowered = limit.limit
    assert 2 <= lowered < 16 and limit.decreases >= 1
    feed(limit, 5.0, 2000, overloaded=True)
    assert limit.limit == 2


def test_overload_signals_lower_the_limit_even_at_steady_latency() -> None:
    limit = AimdLimit(ceiling=10, floor=1)
    feed(limit, 0.1, 100)
    feed(limit, 0.1, 30, overloaded=True)
    assert limit.limit < 10


def test_the_limit_grows_back_once_latency_returns_to_normal() -> None:
    limit = AimdLimit(ceiling=12, floor=1)
    feed(limit, 0.1, 200)
    feed(limit, 0.1, 60, overloaded=True)
    low = limit.limit
    feed(limit, 0.1, 2000)
    assert low < limit.limit == 12


def test_cuts_wait_a_round_of_samples_so_one_burst_does_not_collapse_the_limit() -> None:
    limit = AimdLimit(ceiling=20, floor=1, backoff=0.5)
    feed(limit, 0.1, 100)
    feed(limit, 0.1, 5, overloaded=True)  # fewer samples than the limit: at most one cut
    assert limit.limit == 10 and limit.decreases == 1
