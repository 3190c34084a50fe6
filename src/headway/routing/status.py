"""The live state of every route's deployments: what ``GET /admin/deployments`` and the metrics show."""

from __future__ import annotations

from collections.abc import Mapping

from headway.routing.breaker import BreakerBackend
from headway.routing.deployments import Route
from headway.types import JSON


async def deployment_status(routes: Mapping[str, Route], breakers: BreakerBackend, *, model: str | None = None) -> list[JSON]:
    """One entry per route (``model``), each listing its deployments' breaker, load and latency."""
    out: list[JSON] = []
    for name, route in routes.items():
        if model is not None and name != model:
            continue
        deployments: list[JSON] = []
        for deployment in route.deployments:
            breaker = await breakers.snapshot(deployment.key)
            deployments.append(
                {
                    "id": deployment.id,
                    "provider": deployment.provider_name,
                    "model": deployment.model,
                    "weight": deployment.weight,
                    "state": breaker.state,
                    "breaker_enabled": breaker.enabled,
                    "failure_ratio": breaker.failure_ratio,
                    "window_requests": breaker.requests,
                    "window_failures": breaker.failures,
                    "in_flight": deployment.in_flight,
                    "ewma_latency_ms": round(deployment.ewma_ms, 3) if deployment.samples else None,
                    "latency_samples": deployment.samples,
                    "opened_at": breaker.opened_at,
                    "next_trial_at": breaker.next_trial_at,
                    "trials_in_flight": breaker.trials_in_flight,
                }
            )
        config = route.config
        out.append(
            {
                "model": name,
                "kind": route.kind,
                "balancing": config.balancing,
                "fallbacks": config.fallbacks if isinstance(config.fallbacks, list) else config.fallbacks.model_dump(),
                "hedge_after_ms": config.hedge.after_ms if config.hedge else None,
                "deployments": deployments,
            }
        )
    return out
