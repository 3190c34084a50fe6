"""``LoadConfig``: every option of one load test, validated once, passed in explicitly.

A run is a list of steps. Closed-loop steps hold a fixed number of requests in flight
(``concurrency``); open-loop steps send on an arrival schedule (``rates``) whatever the
target does. Every step is bounded by a duration, a request count, or both (whichever
comes first), so a run always stops by itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from headway.errors import ConfigError
from headway.loadtest.slo import Slo

Endpoint = Literal["chat", "embeddings"]
Arrival = Literal["constant", "poisson"]

DEFAULT_DURATION_S = 10.0
ENDPOINT_PATHS: dict[str, str] = {"chat": "/chat/completions", "embeddings": "/embeddings"}


@dataclass(frozen=True, slots=True)
class StepPlan:
    """One load level: either ``concurrency`` (closed loop) or ``rate`` (open loop) is set."""

    concurrency: int | None = None
    rate: float | None = None

    @property
    def mode(self) -> Literal["closed", "open"]:
        return "open" if self.rate is not None else "closed"

    @property
    def label(self) -> str:
        if self.rate is not None:
            return f"rate={self.rate:g}/s"
        return f"concurrency={self.concurrency}"


@dataclass(frozen=True, slots=True)
class LoadConfig:
    """All options of ``headway load``; see ``README.md`` in this folder for their meaning."""

    base_url: str  # what you would pass to an OpenAI SDK as base_url, e.g. http://host:8080/v1
    model: str = "gpt-4o-mini"
    api_key: str | None = None
    endpoint: Endpoint = "chat"
    concurrency: tuple[int, ...] = (1,)
    rates: tuple[float, ...] = ()  # non-empty: open loop, one step per rate; concurrency is ignored
    arrival: Arrival = "constant"
    duration_s: float | None = None  # per step
    requests: int | None = None  # per step
    prompt_tokens: int = 32
    max_tokens: int = 16
    stream: bool = False
    unique_prompts: bool = False  # vary every prompt so response caches cannot answer
    timeout_s: float = 60.0
    max_in_flight: int = 1000  # open-loop safety bound; arrivals beyond it are dropped and counted
    price_input: float | None = None  # USD per million input tokens
    price_output: float | None = None  # USD per million output tokens
    headers: Mapping[str, str] = field(default_factory=dict)
    slos: tuple[Slo, ...] = ()
    seed: int = 0  # Poisson arrivals are reproducible run to run

    def __post_init__(self) -> None:
        _validate(self)
        if self.duration_s is None and self.requests is None:
            # Frozen dataclass: defaulting the bound here keeps "every run stops" a type-level fact.
            object.__setattr__(self, "duration_s", DEFAULT_DURATION_S)

    @property
    def url(self) -> str:
        return self.base_url.rstrip("/") + ENDPOINT_PATHS[self.endpoint]

    @property
    def steps(self) -> tuple[StepPlan, ...]:
        if self.rates:
            return tuple(StepPlan(rate=rate) for rate in self.rates)
        return tuple(StepPlan(concurrency=c) for c in self.concurrency)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able snapshot for the report; secrets are never written, only their presence."""
        return {
            "base_url": self.base_url,
            "url": self.url,
            "model": self.model,
            "api_key": "***" if self.api_key else None,
            "endpoint": self.endpoint,
            "concurrency": list(self.concurrency) if not self.rates else [],
            "rates": list(self.rates),
            "arrival": self.arrival,
            "duration_s": self.duration_s,
            "requests": self.requests,
            "prompt_tokens": self.prompt_tokens,
            "max_tokens": self.max_tokens,
            "stream": self.stream,
            "unique_prompts": self.unique_prompts,
            "timeout_s": self.timeout_s,
            "max_in_flight": self.max_in_flight,
            "price_input": self.price_input,
            "price_output": self.price_output,
            "header_names": sorted(self.headers),
            "slos": [slo.text for slo in self.slos],
            "seed": self.seed,
        }


def _validate(config: LoadConfig) -> None:
    def fail(option: str, message: str) -> None:
        raise ConfigError(message, path=option)

    if not config.base_url.startswith(("http://", "https://")):
        fail("--base-url", f"expected an http:// or https:// URL, got {config.base_url!r}")
    if config.endpoint not in ENDPOINT_PATHS:
        fail("--endpoint", f"expected one of {sorted(ENDPOINT_PATHS)}, got {config.endpoint!r}")
    if config.arrival not in ("constant", "poisson"):
        fail("--arrival", f"expected 'constant' or 'poisson', got {config.arrival!r}")
    if not config.rates and not config.concurrency:
        fail("--concurrency", "give at least one concurrency level (or --rate for open loop)")
    if any(c < 1 for c in config.concurrency):
        fail("--concurrency", f"every level must be >= 1, got {list(config.concurrency)}")
    if any(not (math.isfinite(r) and r > 0) for r in config.rates):
        fail("--rate", f"every rate must be a positive number of requests/s, got {list(config.rates)}")
    if config.duration_s is not None and not (math.isfinite(config.duration_s) and config.duration_s > 0):
        fail("--duration", f"expected a positive number of seconds, got {config.duration_s}")
    if config.requests is not None and config.requests < 1:
        fail("--requests", f"expected a positive request count, got {config.requests}")
    if config.prompt_tokens < 1:
        fail("--prompt-tokens", f"expected >= 1, got {config.prompt_tokens}")
    if config.max_tokens < 1:
        fail("--max-tokens", f"expected >= 1, got {config.max_tokens}")
    if config.stream and config.endpoint != "chat":
        fail("--stream", "streaming applies to the chat endpoint only")
    if not config.timeout_s > 0:
        fail("--timeout", f"expected a positive number of seconds, got {config.timeout_s}")
    if config.max_in_flight < 1:
        fail("--max-in-flight", f"expected >= 1, got {config.max_in_flight}")
    for option, price in (("--price-input", config.price_input), ("--price-output", config.price_output)):
        if price is not None and not (math.isfinite(price) and price >= 0):
            fail(option, f"expected a non-negative USD price per million tokens, got {price}")
