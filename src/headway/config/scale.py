"""The ``redis:`` and ``admission:`` sections: shared state, limits, budgets and load shedding.

``redis:`` is the URL of the shared-state backend (``redis://host:6379/0``, or a mapping
with the URL and tuning); without it every replica keeps its limits in process.
``admission:`` says who may send how much (requests and tokens per minute per key, team
and model; spend budgets per key and team), how many requests each deployment serves at
once, and how long a request may wait in line for it. The semantics and overshoot bounds
are in ``docs/scale.md``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from headway.config.section import Section

BudgetPeriod = Literal["day", "week", "month", "total"]
# The name under ``keys:``/``teams:`` that sets the default for every key or team not listed.
EVERYONE = "*"


class RedisConfig(Section):
    url: str = Field(description="redis://[:password@]host:port/db or rediss:// for TLS; password as ${VAR}.")
    key_prefix: str = Field("headway:", description="Prefix of every key Headway writes, so replicas of one deployment share them.")
    timeout_ms: Annotated[int, Field(ge=10, le=10_000)] = Field(
        250, description="Command timeout. A timed-out command falls back to local limits only once a "
        "PING on a fresh connection confirms Redis is unreachable (a slow burst is not an outage)."
    )
    connect_timeout_ms: Annotated[int, Field(ge=10, le=30_000)] = Field(
        1000, description="Timeout for opening a connection (bursts open many at once)."
    )
    max_connections: Annotated[int, Field(ge=2, le=10_000)] = Field(
        128, description="Connections per replica process; past it requests wait for a free one (pool_timeout_ms)."
    )
    pool_timeout_ms: Annotated[int, Field(ge=10, le=60_000)] = Field(
        2000, description="How long a request waits for a free pooled connection before counting as a failure."
    )
    probe_interval_ms: Annotated[int, Field(ge=50, le=60_000)] = Field(
        1000, description="How often a degraded replica checks whether Redis is back."
    )

    @field_validator("url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value


def redis_section(value: Any) -> Any:
    """``redis: redis://…`` is shorthand for ``redis: {url: redis://…}``."""
    return {"url": value} if isinstance(value, str) else value


# The type of ``HeadwayConfig.redis``: a URL or a mapping, absent for in-process state.
RedisSetting = Annotated[RedisConfig | None, BeforeValidator(redis_section)]


class RateLimitConfig(Section):
    """Per minute, over a sliding window of the last 60 seconds."""

    requests_per_minute: Annotated[int, Field(ge=1)] | None = None
    tokens_per_minute: Annotated[int, Field(ge=1)] | None = Field(
        None, description="Prompt plus completion tokens; max_tokens is counted at admission and settled after."
    )


class BudgetConfig(Section):
    usd: Annotated[float, Field(gt=0)] = Field(description="Spend cap in USD over one period.")
    period: BudgetPeriod = Field("month", description="Calendar period in UTC after which spend starts again at zero.")


class LimitsConfig(Section):
    """Rate limits by scope. Each key and team counts separately; ``"*"`` sets the default for those not listed."""

    keys: dict[str, RateLimitConfig] = Field(default_factory=dict, description="By caller (API key name).")
    teams: dict[str, RateLimitConfig] = Field(default_factory=dict)
    models: dict[str, RateLimitConfig] = Field(default_factory=dict, description="By model (route), over all callers.")


class BudgetsConfig(Section):
    keys: dict[str, BudgetConfig] = Field(default_factory=dict)
    teams: dict[str, BudgetConfig] = Field(default_factory=dict)
    default_output_tokens: Annotated[int, Field(ge=1)] = Field(
        1024, description="Completion tokens reserved for a request that sets no max_tokens."
    )
    reservation_ttl_s: Annotated[float, Field(ge=10)] = Field(
        600, description="A reservation not settled by then (its replica died) is released."
    )


class DeploymentAdmissionConfig(Section):
    max_in_flight: Annotated[int, Field(ge=1)] = Field(description="Requests one replica sends to this deployment at once.")
    max_queue: Annotated[int, Field(ge=0)] | None = Field(None, description="Requests waiting for a slot; beyond it, 503.")
    queue_timeout_ms: Annotated[int, Field(ge=1)] | None = Field(
        None, description="Longest wait for a slot, from the request's arrival; a wait that cannot end in time is shed at once."
    )
    adaptive: bool = Field(
        False, description="Lower the limit (down to min_in_flight) while upstream latency rises; raise it back as it falls."
    )
    min_in_flight: Annotated[int, Field(ge=1)] = 1


class PriorityConfig(Section):
    """Higher is served first from a deployment's queue; a key's setting wins over its team's, a team's over the model's."""

    default: int = 0
    keys: dict[str, int] = Field(default_factory=dict)
    teams: dict[str, int] = Field(default_factory=dict)
    models: dict[str, int] = Field(default_factory=dict)


class AdmissionConfig(Section):
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    budgets: BudgetsConfig = Field(default_factory=BudgetsConfig)
    deployments: dict[str, DeploymentAdmissionConfig] = Field(
        default_factory=dict, description='By deployment id, "<provider>/<model>" as in the request log.'
    )
    max_queue: Annotated[int, Field(ge=0)] = Field(200, description="Default queue length per limited deployment.")
    queue_timeout_ms: Annotated[int, Field(ge=1)] = Field(2000, description="Default longest wait for a deployment slot.")
    priority: PriorityConfig = Field(default_factory=PriorityConfig)
    local_fallback_share: Annotated[float, Field(gt=0, le=1)] | None = Field(
        None,
        description="Share of each rate limit a replica enforces alone while Redis is unreachable; "
        "default: 1/(replicas seen alive in Redis before it went), which keeps the total at the limit.",
    )

    @model_validator(mode="after")
    def _deployment_ids(self) -> AdmissionConfig:
        for name in self.deployments:
            if "/" not in name:
                raise ValueError(f'deployments.{name}: expected a deployment id "<provider>/<model>"')
        return self
