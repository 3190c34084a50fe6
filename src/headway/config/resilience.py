"""Resilience settings: retries, balancing, circuit breakers, fallbacks, hedging, contracts, cache.

Per-model knobs live on ``ModelResilience``, which ``ModelConfig`` extends, so an
operator writes them beside the model's deployments::

    models:
      chat:
        deployments: [...]
        balancing: latency
        retries: {max_retries: 2, backoff_initial_ms: 100}
        breaker: {failure_ratio: 0.5, min_requests: 10, cooldown_s: 15}
        fallbacks: {timeout: [chat-small], error: [chat-small]}
        degraded: {message: "We are busy; please retry in a minute."}
        hedge: {after_ms: 300}
        contract: {schema: {type: object, required: [answer]}, max_repairs: 1}
        cache: {enabled: true, ttl_s: 600}

The gateway-wide ``cache:`` section (``CacheConfig``) holds the store size, scope and
semantic settings. Every knob is described in ``docs/resilience.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

from pydantic import ConfigDict, Field, model_validator

from headway.config.section import Section

if TYPE_CHECKING:
    from headway.config.models import HeadwayConfig

FallbackCause = Literal["timeout", "rate_limit", "context_window", "content_filter", "error"]
FALLBACK_CAUSES: tuple[FallbackCause, ...] = get_args(FallbackCause)
Balancing = Literal["weighted", "least_busy", "latency"]
RetryableKind = Literal["rate_limit", "server_error", "timeout", "connection", "bad_response", "stream_cut"]
RETRYABLE: tuple[RetryableKind, ...] = get_args(RetryableKind)


class _Section(Section):
    model_config = ConfigDict(populate_by_name=True)  # keys may also be written by their aliases


class RetryConfig(_Section):
    """Further attempts within one model, after its first, on retryable failures only."""

    max_retries: Annotated[int, Field(ge=0, le=10)] = 2
    backoff_initial_ms: Annotated[float, Field(ge=0)] = Field(
        100.0, description="Cap of the first backoff; each retry doubles it (full jitter: a uniform draw below the cap)."
    )
    backoff_max_ms: Annotated[float, Field(ge=0)] = 2000.0
    retry_after_max_s: Annotated[float, Field(ge=0)] = Field(
        5.0, description="Longest Retry-After honoured; a longer one makes that deployment unavailable for the request."
    )
    on: list[RetryableKind] = Field(
        default_factory=lambda: list(RETRYABLE),
        description="Failure kinds worth another attempt; a 4xx caused by the request is never retried.",
    )


class BreakerConfig(_Section):
    """A circuit breaker per deployment over a rolling window of outcomes."""

    enabled: bool = True
    failure_ratio: Annotated[float, Field(gt=0, le=1)] = 0.5
    window_s: Annotated[float, Field(gt=0, le=3600)] = 30.0
    min_requests: Annotated[int, Field(ge=1)] = 10
    cooldown_s: Annotated[float, Field(gt=0)] = 15.0
    half_open_trials: Annotated[int, Field(ge=1, le=100)] = Field(
        1, description="Requests let through at once while half-open; the first success closes the breaker."
    )


class FallbacksByCause(_Section):
    timeout: list[str] = Field(default_factory=list)
    rate_limit: list[str] = Field(default_factory=list)
    context_window: list[str] = Field(default_factory=list)
    content_filter: list[str] = Field(default_factory=list)
    error: list[str] = Field(default_factory=list, description="Server errors, resets, malformed answers, cut streams.")

    def for_cause(self, cause: FallbackCause) -> list[str]:
        chain: list[str] = getattr(self, cause)
        return chain


class HedgeConfig(_Section):
    after_ms: Annotated[float, Field(gt=0)] = Field(
        ..., description="Without a first token by then, race a second deployment; the first to answer wins."
    )


class DegradedConfig(_Section):
    """The last answer before an error: a simpler model, or a fixed message."""

    model: str | None = None
    message: str | None = None

    @model_validator(mode="after")
    def _one_of(self) -> DegradedConfig:
        if (self.model is None) == (self.message is None):
            raise ValueError("set exactly one of 'model' or 'message'")
        return self


class OutputContractConfig(_Section):
    """Output contracts: JSON schemas the answer (and tool-call arguments) must satisfy."""

    json_schema: dict[str, Any] | None = Field(
        None, alias="schema", description="A JSON schema every answer of this model must satisfy (JSON content)."
    )
    enforce_response_format: bool = Field(True, description="Validate answers against a request's response_format json_schema.")
    enforce_tools: bool = Field(True, description="Validate tool-call arguments against each tool's parameters schema.")
    max_repairs: Annotated[int, Field(ge=0, le=5)] = Field(
        1, description="Re-asks with the validation error appended before falling back."
    )


class ModelCacheConfig(_Section):
    """Per-model cache switches; unset values follow the gateway-wide ``cache:`` section."""

    enabled: bool | None = None
    ttl_s: Annotated[float, Field(gt=0)] | None = None
    semantic: bool | None = None


class ModelResilience(_Section):
    """The resilience fields of one ``models.<name>`` entry (``ModelConfig`` extends this)."""

    balancing: Balancing = "weighted"
    retries: RetryConfig = Field(default_factory=RetryConfig)
    breaker: BreakerConfig = Field(default_factory=BreakerConfig)
    fallbacks: list[str] | FallbacksByCause = Field(
        default_factory=list,
        description="Models tried in order when this one's deployments are exhausted; a list applies to every cause but a bad request.",
    )
    hedge: HedgeConfig | None = None
    degraded: DegradedConfig | None = None
    contract: OutputContractConfig = Field(default_factory=OutputContractConfig)
    cache: ModelCacheConfig = Field(default_factory=ModelCacheConfig)
    deadline_s: Annotated[float, Field(gt=0)] | None = Field(
        None,
        description="Bound on the whole request (retries and fallbacks included); default: long enough for this model and its longest fallback chain.",
    )
    continue_streams: bool = Field(
        False,
        description="A stream cut after partial text continues from another deployment or fallback, given the partial answer as an assistant prefix.",
    )

    def fallback_chain(self, cause: FallbackCause | None) -> list[str]:
        """Models to try after this one, for the cause of its failure (``None``: the request was at fault)."""
        if cause is None:
            return []
        if isinstance(self.fallbacks, list):
            return self.fallbacks
        return self.fallbacks.for_cause(cause)


class SemanticCacheConfig(_Section):
    enabled: bool = False
    embeddings_model: str | None = Field(None, description="A configured model of kind 'embeddings'.")
    threshold: Annotated[float, Field(gt=0, le=1)] = Field(0.95, description="Cosine similarity needed for a hit.")
    max_candidates: Annotated[int, Field(ge=1, le=100_000)] = Field(
        2000, description="Most recent entries compared per scope and parameter set."
    )

    @model_validator(mode="after")
    def _model_named(self) -> SemanticCacheConfig:
        if self.enabled and not self.embeddings_model:
            raise ValueError("semantic caching needs 'embeddings_model'")
        return self


class CacheConfig(_Section):
    """The response cache (exact, then semantic); off unless enabled here or per model."""

    enabled: bool = False
    ttl_s: Annotated[float, Field(gt=0)] = 3600.0
    stale_ttl_s: Annotated[float, Field(ge=0)] = Field(
        86_400.0, description="How long past its TTL an entry may still answer when every model failed (stale-if-error)."
    )
    max_entries: Annotated[int, Field(ge=1, le=10_000_000)] = 10_000
    scope: Literal["caller", "team", "global"] = Field(
        "caller", description="Who shares entries: each caller, each team (callers without one: per caller), or everyone."
    )
    persist: bool = Field(True, description="Keep entries in the store so they survive restarts.")
    flush_interval_ms: Annotated[int, Field(ge=10, le=60_000)] = Field(
        5_000,
        description=(
            "How often the store catches up with memory (persist: true): each write, one batch, takes the"
            " entries memory has held for a whole interval; a crash loses at most two intervals."
        ),
    )
    semantic: SemanticCacheConfig = Field(default_factory=SemanticCacheConfig)


def check_resilience_references(config: HeadwayConfig) -> None:
    """Fallback, degraded and semantic-cache models must exist and be of the right kind."""
    models = config.models

    def expect(name: str, kind: str, where: str) -> None:
        target = models.get(name)
        if target is None:
            known = ", ".join(sorted(models)) or "none defined"
            raise ValueError(f"{where}: unknown model {name!r} (known: {known})")
        if target.kind != kind:
            raise ValueError(f"{where}: model {name!r} is of kind {target.kind!r}, expected {kind!r}")

    for name, model in models.items():
        chains = (
            {"": model.fallbacks}
            if isinstance(model.fallbacks, list)
            else {f".{cause}": model.fallbacks.for_cause(cause) for cause in FALLBACK_CAUSES}
        )
        for suffix, chain in chains.items():
            for index, target in enumerate(chain):
                where = f"models.{name}.fallbacks{suffix}.{index}"
                if target == name:
                    raise ValueError(f"{where}: a model cannot fall back to itself")
                expect(target, model.kind, where)
        if model.degraded is not None and model.degraded.model is not None:
            if model.degraded.model == name:
                raise ValueError(f"models.{name}.degraded.model: a model cannot degrade to itself")
            expect(model.degraded.model, model.kind, f"models.{name}.degraded.model")
    semantic = config.cache.semantic
    if semantic.enabled and semantic.embeddings_model:
        expect(semantic.embeddings_model, "embeddings", "cache.semantic.embeddings_model")
