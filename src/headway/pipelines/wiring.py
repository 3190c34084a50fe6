"""Build the data plane a gateway process holds: the retriever and the pipeline service.

Both reach their tables through the store's ``Database``; a store without one (a test
double) gets neither, and the endpoints that need them answer 503.
"""

from __future__ import annotations

from typing import Any

from headway.config import HeadwayConfig
from headway.pipelines.alerts import Alerter
from headway.pipelines.runner import RunnerDeps
from headway.pipelines.service import PipelineService
from headway.retrieval import LOCAL_PREFIX, Embedder, Retriever, build_embedder
from headway.routing import Executor, Route
from headway.store import Database, Outbox


def build_alerter(config: HeadwayConfig, database: Database) -> Alerter:
    """Alerts' webhooks go through the store's outbox (signed there with ``pipelines.alerts.webhook_secret``)."""
    alerts = config.pipelines.alerts
    return Alerter(alerts.webhook_url, outbox=Outbox(database))


def runner_deps(
    config: HeadwayConfig,
    database: Database,
    routes: dict[str, Route],
    executor: Executor,
    retriever: Retriever | None = None,
) -> RunnerDeps:
    def embedder_for(spec: str, dimensions: int | None, batch_size: int) -> Embedder:
        if retriever is not None and spec.startswith(LOCAL_PREFIX):
            return retriever.embedder(spec, dimensions)  # one loaded model per process
        return build_embedder(spec, routes, executor, dimensions=dimensions, batch_size=batch_size)

    return RunnerDeps(
        database=database,
        alerter=build_alerter(config, database),
        embedder_for=embedder_for,
        lock_ttl_s=config.pipelines.scheduler.lease_s,
        on_published=retriever.published if retriever is not None else None,
    )


def build_data_plane(
    config: HeadwayConfig, store: Any, routes: dict[str, Route], executor: Executor
) -> tuple[Retriever | None, PipelineService | None]:
    database: Database | None = getattr(store, "database", None)
    if database is None:
        return None, None
    collections = frozenset(
        name
        for name in (config.pipelines.collection_of(p) for p in config.pipelines.definitions)
        if name is not None
    )
    indexes = [d.index for d in config.pipelines.definitions.values() if d.index is not None]
    retriever = Retriever(
        database,
        config.retrieval,
        routes,
        executor,
        configured_collections=collections,
        collection_modes={
            index.collection or name: index.mode
            for name, index in ((n, d.index) for n, d in config.pipelines.definitions.items())
            if index is not None and index.mode is not None
        },
        preload=frozenset(
            index.embeddings
            for index in indexes
            if index.embeddings and index.embeddings.startswith(LOCAL_PREFIX)
        ),
    )
    # Local models load and ANN indexes build before queries need them, off the request path.
    retriever.warm_in_background()
    service = PipelineService(config.pipelines, runner_deps(config, database, routes, executor, retriever))
    return retriever, service
