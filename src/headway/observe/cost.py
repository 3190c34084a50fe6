"""Cost in USD from token usage: a dated built-in price table, overridable per model.

The provider's own reported cost wins where present. Cache-read and reasoning tokens are
priced separately when the price says so; otherwise cache reads are billed as input and
reasoning tokens are already inside output tokens (as OpenAI reports them).
"""

from __future__ import annotations

from dataclasses import dataclass

from headway.types import Usage

PRICE_TABLE_DATE = "2026-11-01"


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens."""

    input: float
    output: float
    cache_read: float | None = None
    reasoning: float | None = None


# Public list prices as of PRICE_TABLE_DATE; operators override per model in config.
BUILTIN_PRICES: dict[str, Price] = {
    "gpt-4o": Price(2.50, 10.00, cache_read=1.25),
    "gpt-4o-mini": Price(0.15, 0.60, cache_read=0.075),
    "gpt-4.1": Price(2.00, 8.00, cache_read=0.50),
    "gpt-4.1-mini": Price(0.40, 1.60, cache_read=0.10),
    "gpt-4.1-nano": Price(0.10, 0.40, cache_read=0.025),
    "o3": Price(2.00, 8.00, cache_read=0.50),
    "o4-mini": Price(1.10, 4.40, cache_read=0.275),
    "text-embedding-3-small": Price(0.02, 0.0),
    "text-embedding-3-large": Price(0.13, 0.0),
    "claude-sonnet-4-5": Price(3.00, 15.00, cache_read=0.30),
    "claude-haiku-4-5": Price(1.00, 5.00, cache_read=0.10),
    "claude-opus-4-1": Price(15.00, 75.00, cache_read=1.50),
}


def builtin_price(model: str) -> Price | None:
    """Exact name first, then the longest known prefix (dated snapshots such as ``gpt-4o-2024-08-06``)."""
    if model in BUILTIN_PRICES:
        return BUILTIN_PRICES[model]
    candidates = [name for name in BUILTIN_PRICES if model.startswith(name + "-")]
    return BUILTIN_PRICES[max(candidates, key=len)] if candidates else None


def cost_usd(usage: Usage, price: Price | None) -> float | None:
    if usage.provider_cost_usd is not None:
        return usage.provider_cost_usd
    if price is None:
        return None
    uncached_input = usage.input_tokens
    total = 0.0
    if price.cache_read is not None and usage.cache_read_tokens:
        uncached_input -= usage.cache_read_tokens
        total += usage.cache_read_tokens * price.cache_read
    total += uncached_input * price.input
    output = usage.output_tokens
    if price.reasoning is not None and usage.reasoning_tokens:
        output -= usage.reasoning_tokens
        total += usage.reasoning_tokens * price.reasoning
    total += output * price.output
    return round(total / 1_000_000, 12)
