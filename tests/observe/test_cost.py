"""Cost from usage: the dated table, overrides, provider cost, cache-read and reasoning pricing; time parsing."""

from __future__ import annotations

import datetime as dt

import pytest

from headway.errors import InvalidRequestError
from headway.observe.cost import BUILTIN_PRICES, PRICE_TABLE_DATE, Price, builtin_price, cost_usd
from headway.observe.cost_report import parse_time
from headway.types import Usage


def test_plain_input_and_output_tokens_times_price() -> None:
    price = Price(input=2.0, output=8.0)
    assert cost_usd(Usage(input_tokens=1000, output_tokens=500), price) == pytest.approx((1000 * 2 + 500 * 8) / 1e6)


def test_provider_reported_cost_wins_over_the_table() -> None:
    assert cost_usd(Usage(input_tokens=10**6, output_tokens=10**6, provider_cost_usd=0.0123), Price(1, 1)) == 0.0123
    assert cost_usd(Usage(input_tokens=5, provider_cost_usd=0.5), None) == 0.5


def test_unknown_price_means_unknown_cost_not_zero() -> None:
    assert cost_usd(Usage(input_tokens=100, output_tokens=100), None) is None


def test_cache_read_tokens_priced_separately_when_the_price_says_so() -> None:
    usage = Usage(input_tokens=1000, output_tokens=0, cache_read_tokens=400)
    assert cost_usd(usage, Price(input=2.0, output=8.0, cache_read=0.5)) == pytest.approx((600 * 2.0 + 400 * 0.5) / 1e6)
    # Without a cache-read price, cached tokens are billed as ordinary input.
    assert cost_usd(usage, Price(input=2.0, output=8.0)) == pytest.approx(1000 * 2.0 / 1e6)


def test_reasoning_tokens_priced_separately_when_the_price_says_so() -> None:
    usage = Usage(input_tokens=0, output_tokens=1000, reasoning_tokens=300)
    assert cost_usd(usage, Price(input=1.0, output=4.0, reasoning=10.0)) == pytest.approx((700 * 4.0 + 300 * 10.0) / 1e6)
    # Otherwise reasoning is already inside output tokens (OpenAI's accounting).
    assert cost_usd(usage, Price(input=1.0, output=4.0)) == pytest.approx(1000 * 4.0 / 1e6)


def test_builtin_table_is_dated_and_matches_snapshots_by_longest_prefix() -> None:
    assert dt.date.fromisoformat(PRICE_TABLE_DATE)
    assert builtin_price("gpt-4o") is BUILTIN_PRICES["gpt-4o"]
    assert builtin_price("gpt-4o-2024-08-06") is BUILTIN_PRICES["gpt-4o"]
    # gpt-4o-mini-… must not fall back to the gpt-4o price.
    assert builtin_price("gpt-4o-mini-2024-07-18") is BUILTIN_PRICES["gpt-4o-mini"]
    assert builtin_price("llama-3-70b") is None
    assert builtin_price("gpt-4") is None


def test_config_price_overrides_the_builtin_one(make_config) -> None:  # type: ignore[no-untyped-def]
    from headway.providers.registry import build_providers
    from headway.routing.deployments import build_routes

    config = make_config()
    routes = build_routes(config, build_providers(config.providers))
    # tests/conftest prices "chat" (gpt-4o-mini) at 0.15/0.60 explicitly; "claude" at 1.0/5.0.
    assert routes["chat"].deployments[0].price == Price(0.15, 0.60, None, None)
    assert routes["claude"].deployments[0].price == Price(1.0, 5.0, None, None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24h", 1_000_000.0 - 86400),
        ("30m", 1_000_000.0 - 1800),
        ("7d", 1_000_000.0 - 7 * 86400),
        ("1.5h", 1_000_000.0 - 5400),
        ("1700000000", 1_700_000_000.0),
        ("2026-01-31", dt.datetime(2026, 1, 31, tzinfo=dt.UTC).timestamp()),
        ("2026-01-31T12:30:00Z", dt.datetime(2026, 1, 31, 12, 30, tzinfo=dt.UTC).timestamp()),
        ("2026-01-31T12:30:00+02:00", dt.datetime(2026, 1, 31, 10, 30, tzinfo=dt.UTC).timestamp()),
    ],
)
def test_parse_time_accepts_what_people_type(text: str, expected: float) -> None:
    assert parse_time(text, now=1_000_000.0) == pytest.approx(expected)


def test_parse_time_rejects_nonsense_naming_the_parameter() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        parse_time("yesterday-ish", param="until")
    assert caught.value.param == "until"
