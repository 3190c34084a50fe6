"""Build the data plane a gateway process holds: the retriever and the pipeline service.

Both need the store's SQLAlchemy engine; a store without one (a test double) gets
neither, and the endpoints that need them answer 503.
"""

from __future__ import annotations

from typing import Any

from headway.config.models import HeadwayConfig
from headway.pipelines.alerts import Alerter, secret_bytes
from headway.pipelines.runner import RunnerDeps
from headway.pipelines.service import PipelineService
from headway.retrieval.embedder import Embedder, build_embedder
from headway.retrieval.service import Retriever
from headway.routing.deployments import Route
from headway.routing.executor import Executor


def build_alerter(config: HeadwayConfig) -> Alerter:
    alerts = config.pipelines.alerts
    secret = alerts.webhook_secret.get_secret_value() if alerts.webhook_secret else None
    return Alerter(alerts.webhook_url, secret_bytes(secret) if secret else None, alerts.timeout_s)


def runner_deps(
    config: HeadwayConfig, engine: Any, routes: dict[str, Route], executor: Executor
) -> RunnerDeps:
    def embedder_for(spec: str, dimensions: int | None, batch_size: int) -> Embedder:
        return build_embedder(spec, routes, executor, dimensions=dimensions, batch_size=batch_size)

    return RunnerDeps(
        engine=engine,
        alerter=build_alerter(config),
        embedder_for=embedder_for,
        lock_ttl_s=config.pipelines.scheduler.lease_s,
    )


def build_data_plane(
    config: HeadwayConfig, store: Any, routes: dict[str, Route], executor: Executor
) -> tuple[Retriever | None, PipelineService | None]:
    engine = getattr(store, "engine", None)
    if engine is None:
        return None, None
    collections = frozenset(
        name
        for name in (config.pipelines.collection_of(p) for p in config.pipelines.definitions)
        if name is not None
    )
    retriever = Retriever(engine, config.retrieval, routes, executor, configured_collections=collections)
    service = PipelineService(config.pipelines, runner_deps(config, engine, routes, executor))
    return retriever, service
