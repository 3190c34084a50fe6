"""Deployments and routes: the runtime view of ``models:`` in the config.

A *route* is what clients name as ``model``; it owns one or more *deployments*, each a
concrete model on a concrete provider. Routes and deployments are built once from the
config and shared by every request; the only fields that change are a deployment's
live load and latency (``in_flight``, ``ewma_ms``), written by the executor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from headway.config import HeadwayConfig, ModelConfig, TimeoutConfig
from headway.errors import NotFoundError
from headway.observe import Price, builtin_price
from headway.providers import Provider, Timeouts
from headway.routing.deadlines import request_deadline_s

# Weight of the newest latency sample in the moving average: ~the last 10 samples matter.
EWMA_ALPHA = 0.2


@dataclass(slots=True)
class Deployment:
    id: str  # "<provider>/<model>", unique within a route
    provider_name: str
    provider: Provider
    model: str
    weight: float
    timeouts: Timeouts
    price: Price | None
    key: str = ""  # "<route>/<id>": unique across routes; names the circuit breaker
    in_flight: int = 0
    ewma_ms: float = 0.0  # time to answer (streams: to the first token); 0 until sampled
    samples: int = 0
    region: str | None = None  # residency (headway.auth.residency)
    data_classes: tuple[str, ...] | None = None  # data classes it is approved for
    provider_type: str = "openai"  # the provider's API type (config ``providers.<name>.type``)

    def observe_latency(self, ms: float) -> None:
        if self.samples == 0:
            self.ewma_ms = ms
        else:
            self.ewma_ms += EWMA_ALPHA * (ms - self.ewma_ms)
        self.samples += 1


@dataclass(slots=True)
class Route:
    name: str
    kind: str
    deployments: list[Deployment]
    config: ModelConfig
    price: Price | None = None
    description: str | None = None
    # Derived once from ``config`` so the hot path reads plain attributes.
    retry_on: frozenset[str] = frozenset()
    hedge_after_s: float | None = None
    deadline_s: float | None = None


def to_timeouts(config: TimeoutConfig) -> Timeouts:
    return Timeouts(connect=config.connect, first_token=config.first_token, idle=config.idle, total=config.total)


def _merge_timeouts(route: TimeoutConfig, deployment: TimeoutConfig | None) -> Timeouts:
    if deployment is None:
        return to_timeouts(route)
    explicit = deployment.model_fields_set
    merged = {name: getattr(deployment if name in explicit else route, name) for name in TimeoutConfig.model_fields}
    return Timeouts(**merged)


def build_routes(config: HeadwayConfig, providers: dict[str, Provider]) -> dict[str, Route]:
    routes: dict[str, Route] = {}
    for name, model in config.models.items():
        route_price = (
            Price(model.price.input, model.price.output, model.price.cache_read, model.price.reasoning)
            if model.price
            else None
        )
        deployments: list[Deployment] = []
        for index, spec in enumerate(model.deployments):
            deployment_id = f"{spec.provider}/{spec.model}"
            if any(d.id == deployment_id for d in deployments):
                deployment_id = f"{deployment_id}#{index}"
            deployments.append(
                Deployment(
                    id=deployment_id,
                    provider_name=spec.provider,
                    provider=providers[spec.provider],
                    model=spec.model,
                    weight=spec.weight,
                    timeouts=_merge_timeouts(model.timeouts, spec.timeouts),
                    price=route_price or builtin_price(spec.model),
                    key=f"{name}/{deployment_id}",
                    region=spec.region,
                    data_classes=tuple(spec.data_classes) if spec.data_classes is not None else None,
                    provider_type=config.providers[spec.provider].type if spec.provider in config.providers else "openai",
                )
            )
        routes[name] = Route(
            name=name,
            kind=model.kind,
            deployments=deployments,
            config=model,
            price=route_price,
            description=model.description,
            retry_on=frozenset(model.retries.on),
            hedge_after_s=model.hedge.after_ms / 1000 if model.hedge else None,
            deadline_s=request_deadline_s(name, config.models),
        )
    return routes


def find_route(routes: Mapping[str, Route], name: str, kind: str) -> Route:
    """The route clients call ``name``, of ``kind``; a 404 naming the ones there are otherwise."""
    route = routes.get(name)
    if route is None or route.kind != kind:
        available = ", ".join(sorted(n for n, r in routes.items() if r.kind == kind)) or "none"
        raise NotFoundError(
            f"The model {name!r} does not exist or is not a {kind} model here. Available: {available}",
            param="model",
            code="model_not_found",
        )
    return route
