"""The retriever: answer "the k best passages of collection C for this query".

Holds what queries need and nothing else: the store's engine, the embedders of
collections (built on first use from the embeddings model recorded with the collection),
the vector cache and outcome counters the metrics part can read.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from headway.config.retrieval import RetrievalConfig
from headway.errors import NotFoundError, StoreUnavailableError
from headway.retrieval.embedder import Embedder, build_embedder
from headway.retrieval.index import Collection, get_collection, list_collections
from headway.retrieval.search import Passage, VectorCache, fetch_passages, fuse, lexical_ranking, matches
from headway.routing.deployments import Route
from headway.routing.executor import Executor


@dataclass(slots=True)
class RetrievalResult:
    collection: str
    version: int
    passages: list[Passage]
    lexical_only: bool = False


@dataclass
class Retriever:
    engine: Engine
    config: RetrievalConfig
    routes: dict[str, Route]
    executor: Executor
    configured_collections: frozenset[str] = frozenset()
    outcomes: Counter[str] = field(default_factory=Counter)  # hit | miss | failed, read by metrics
    _embedders: dict[tuple[str, int | None], Embedder] = field(default_factory=dict)
    _cache: VectorCache | None = None

    def __post_init__(self) -> None:
        self._cache = VectorCache(self.config.cache_collections)

    def embedder(self, model: str, dimensions: int | None) -> Embedder:
        key = (model, dimensions)
        if key not in self._embedders:
            self._embedders[key] = build_embedder(model, self.routes, self.executor, dimensions=dimensions)
        return self._embedders[key]

    def _collection(self, name: str) -> Collection | None:
        try:
            with self.engine.connect() as connection:
                return get_collection(connection, name)
        except SQLAlchemyError as exc:
            raise StoreUnavailableError(f"cannot read collection {name!r}: {exc.__class__.__name__}") from exc

    async def known(self, name: str) -> bool:
        return (
            name in self.configured_collections or await asyncio.to_thread(self._collection, name) is not None
        )

    async def collections(self) -> list[Collection]:
        def read() -> list[Collection]:
            try:
                with self.engine.connect() as connection:
                    return list_collections(connection)
            except SQLAlchemyError as exc:
                raise StoreUnavailableError(f"cannot list collections: {exc.__class__.__name__}") from exc

        return await asyncio.to_thread(read)

    async def retrieve(
        self, collection: str, query: str, k: int, filters: Mapping[str, Any] | None = None
    ) -> RetrievalResult:
        """Raises ``NotFoundError`` for an unknown collection, ``StoreUnavailableError`` or
        ``UpstreamError`` when a stage fails; the caller decides what a failure means."""
        current = await asyncio.to_thread(self._collection, collection)
        if current is None:
            if collection in self.configured_collections:
                return RetrievalResult(collection, 0, [])  # declared, not built yet: nothing to find
            raise NotFoundError(
                f"No collection {collection!r}", param="collection", code="collection_not_found"
            )
        depth = max(self.config.candidates, k)
        wanted = dict(filters or {})
        # The lexical ranking runs in the store while the query is being embedded and ranked:
        # the three overlap instead of adding up.
        lexical, vector = await asyncio.gather(
            asyncio.to_thread(self._lexical, current, query, depth * (4 if wanted else 1)),
            self._vector(current, query, depth, wanted),
        )
        passages = await asyncio.to_thread(self._fetch, current, [*lexical, *(vector or [])])
        rankings: dict[str, list[int]] = {}
        if vector is not None:
            rankings["vector"] = vector
        if wanted:
            lexical = [i for i in lexical if i in passages and _passes(passages[i], wanted)][:depth]
        rankings["lexical"] = lexical
        chosen: list[Passage] = []
        for chunk_id, score, ranks in fuse(rankings, self.config.rrf_k)[:k]:
            passage = passages[chunk_id]
            passage.score, passage.ranks = score, ranks
            chosen.append(passage)
        return RetrievalResult(current.name, current.active_version, chosen, lexical_only=vector is None)

    def _lexical(self, current: Collection, query: str, limit: int) -> list[int]:
        try:
            with self.engine.connect() as connection:
                return lexical_ranking(connection, current.name, current.active_version, query, limit)
        except SQLAlchemyError as exc:
            raise StoreUnavailableError(
                f"cannot search collection {current.name!r}: {exc.__class__.__name__}"
            ) from exc

    async def _vector(
        self, current: Collection, query: str, depth: int, filters: dict[str, Any]
    ) -> list[int] | None:
        if not current.embedding_model:
            return None
        embedder = self.embedder(current.embedding_model, current.dimensions)
        query_vector = (await embedder.embed([query]))[0]

        def rank() -> list[int]:
            assert self._cache is not None
            try:
                with self.engine.connect() as connection:
                    vectors = self._cache.get(connection, current.name, current.active_version)
            except SQLAlchemyError as exc:
                raise StoreUnavailableError(
                    f"cannot load vectors of {current.name!r}: {exc.__class__.__name__}"
                ) from exc
            return vectors.ranking(query_vector, depth, filters, self.config.min_similarity)

        return await asyncio.to_thread(rank)

    def _fetch(self, current: Collection, ids: list[int]) -> dict[int, Passage]:
        try:
            with self.engine.connect() as connection:
                return fetch_passages(connection, current.name, list(dict.fromkeys(ids)))
        except SQLAlchemyError as exc:
            raise StoreUnavailableError(
                f"cannot read passages of {current.name!r}: {exc.__class__.__name__}"
            ) from exc


def _passes(passage: Passage, filters: Mapping[str, Any]) -> bool:
    return matches(passage.metadata, passage.doc_key, passage.source, filters)
