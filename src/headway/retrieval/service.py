"""The retriever: answer "the k best passages of collection C for this query".

Holds what queries need and nothing else: the store's ``Database`` (reads, the ANN
index's included, go through its error translation), the embedders of
collections (built from the embeddings model recorded with the collection and, for local
models, loaded at start-up in the background, never on the request path), the ANN
indexes (``ann.py``) and the counters the metrics part reads.

A query ranks in one of three modes: ``lexical`` (BM25: the in-memory index of
``lexical.py`` once built, the store's full text until then), ``vector`` (ANN over
the embeddings, with the document-length prior of ``search.prior_ranking``) or ``hybrid``
(both, fused by weighted reciprocal rank). The mode comes from
the query, else the collection's ``index.mode``, else ``retrieval.mode``. When the vector
half cannot answer in hybrid mode (the embedder failed or is still loading, the ANN index
is still being built) the query is answered from the lexical half and the result says so
(``fallback``); in vector mode that is an error.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from headway.config import RetrievalConfig
from headway.errors import (
    HeadwayError,
    InvalidRequestError,
    NotFoundError,
    UpstreamError,
)
from headway.retrieval.ann import AnnSettings, AnnStore
from headway.retrieval.embedder import Embedder, EmbeddingError, LocalEmbedder, build_embedder
from headway.retrieval.index import Collection, get_collection, list_collections
from headway.retrieval.lexical import LexicalStore
from headway.retrieval.local_models import fusion_for
from headway.retrieval.search import (
    Passage,
    document_sizes,
    fetch_passages,
    fuse,
    lexical_ranking,
    matches,
    prior_ranking,
)
from headway.routing import Executor, Route
from headway.store import Database

log = logging.getLogger("headway.retrieval")

MODES = ("lexical", "vector", "hybrid")
ANN_OVERSAMPLE = 2  # ANN candidates per wanted one: room for retired chunks and filters
VECTOR_BUDGET_SHARE = 0.5
LOAD_RETRY_S = 30.0  # a local model that failed to load in the background is tried again after this


@dataclass(slots=True)
class RetrievalResult:
    collection: str
    version: int
    passages: list[Passage]
    mode: str = "lexical"  # what was asked for
    served: str = "lexical"  # what answered
    fallback: str | None = None  # why the vector half did not answer, when it did not

    @property
    def lexical_only(self) -> bool:
        return self.served == "lexical"


@dataclass
class RetrievalStats:
    """Counters the metrics part reads: outcomes and latency sums by mode."""

    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)  # (mode served, hit|miss|fallback)
    seconds: dict[str, float] = field(default_factory=dict)  # mode served -> total seconds
    queries: Counter[str] = field(default_factory=Counter)  # mode served -> queries
    latencies: dict[str, list[float]] = field(default_factory=dict)  # recent, for the metrics histogram
    lexical_engine: Counter[str] = field(default_factory=Counter)  # memory | store: what ranked lexically

    def record(self, result: RetrievalResult, seconds: float) -> None:
        served = result.served
        self.queries[served] += 1
        self.seconds[served] = self.seconds.get(served, 0.0) + seconds
        self.outcomes[(served, "hit" if result.passages else "miss")] += 1
        if result.fallback is not None:
            self.outcomes[(result.mode, "fallback")] += 1
        recent = self.latencies.setdefault(served, [])
        recent.append(seconds)
        del recent[:-1000]


@dataclass
class Retriever:
    database: Database
    config: RetrievalConfig
    routes: dict[str, Route]
    executor: Executor
    configured_collections: frozenset[str] = frozenset()
    collection_modes: Mapping[str, str] = field(default_factory=dict)
    preload: frozenset[str] = frozenset()  # embeddings models to load at start-up
    outcomes: Counter[str] = field(default_factory=Counter)  # hit | miss | failed, read by metrics
    stats: RetrievalStats = field(default_factory=RetrievalStats)
    ann: AnnStore | None = None
    lexical: LexicalStore | None = None  # None with retrieval.lexical_index false: the store's full text
    _embedders: dict[tuple[str, int | None], Embedder] = field(default_factory=dict)
    _embedders_lock: threading.Lock = field(default_factory=threading.Lock)
    # Background loads of local models asked for by queries: one at a time per model, and a
    # failed one is retried no sooner than LOAD_RETRY_S (every query during a load used to
    # start a thread of its own, each logging the same failure).
    _loads: dict[str, tuple[threading.Thread, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        directory = _ann_directory(self.database, self.config.ann_dir)
        if self.ann is None:
            self.ann = AnnStore(
                self.database, directory, AnnSettings(ivf_from=self.config.ann_ivf_from, nprobe=self.config.ann_nprobe)
            )
        if self.lexical is None and self.config.lexical_index:
            self.lexical = LexicalStore(self.database, directory)  # its files beside the ANN index's

    def embedder(self, model: str, dimensions: int | None) -> Embedder:
        key = (model, dimensions)
        with self._embedders_lock:
            if key not in self._embedders:
                made = build_embedder(model, self.routes, self.executor, dimensions=dimensions)
                if isinstance(made, LocalEmbedder):
                    made.threads = self.config.local_threads
                self._embedders[key] = made
            return self._embedders[key]

    # --- start-up -----------------------------------------------------------------------

    def warm(self) -> None:
        """Load local embedders, build lexical and ANN indexes (blocking): what start-up runs, off the request path.

        Best effort: at start-up it may run before the schema is migrated; whatever it
        cannot do now happens on first use (in the background too)."""
        for model in sorted(self.preload):
            self._load_model(model)
        try:
            collections = self._list()
        except Exception as exc:  # not migrated yet, store away: indexes build on first query instead
            log.info("collections not readable at start-up (%s); vector indexes build on first use", exc)
            return
        for model in sorted({c.embedding_model for c in collections if c.embedding_model} - self.preload):
            self._load_model(model)
        assert self.ann is not None
        # Vector indexes first: without one a hybrid query loses its vector half (flagged);
        # without a lexical index it is only slower (the store's full text ranks meanwhile).
        for collection in collections:
            if collection.embedding_model:
                try:
                    self.ann.refresh(collection.name)
                except Exception:  # best effort, as above
                    log.exception("ANN index not built", extra={"collection": collection.name})
        if self.lexical is not None:
            for collection in collections:
                try:
                    self.lexical.refresh(collection.name)
                except Exception:  # best effort, as above
                    log.exception("lexical index not built", extra={"collection": collection.name})

    def _load_model(self, model: str) -> None:
        try:
            embedder = self.embedder(model, None)
            if isinstance(embedder, LocalEmbedder):
                embedder.load()
        except HeadwayError as exc:
            log.error("embeddings model %s not loaded: %s", model, exc)

    def warm_in_background(self) -> threading.Thread:
        thread = threading.Thread(target=self.warm, name="headway-retrieval-warm", daemon=True)
        thread.start()
        return thread

    def published(self, collection: str) -> None:
        """A pipeline published a new version: bring the lexical and ANN indexes up to it (blocking, incremental)."""
        assert self.ann is not None
        if self.lexical is not None:
            self.lexical.refresh(collection)
        self.ann.refresh(collection)

    # --- reads ----------------------------------------------------------------------------

    @property
    def _database(self) -> Database:
        assert self.database is not None
        return self.database

    def _collection(self, name: str) -> Collection | None:
        with self._database.connect(f"read collection {name!r}") as connection:
            return get_collection(connection, name)

    def _list(self) -> list[Collection]:
        with self._database.connect("list collections") as connection:
            return list_collections(connection)

    def collections_now(self) -> list[Collection]:
        """Collections as the store holds them (blocking; the metrics scrape calls it)."""
        return self._list()

    async def known(self, name: str) -> bool:
        return (
            name in self.configured_collections or await asyncio.to_thread(self._collection, name) is not None
        )

    async def collections(self) -> list[Collection]:
        return await asyncio.to_thread(self._list)

    def mode_for(self, current: Collection, requested: str | None) -> str:
        if requested is not None and requested not in MODES:
            raise InvalidRequestError(f"'mode' must be one of {', '.join(MODES)}", param="mode")
        mode = requested or self.collection_modes.get(current.name) or self.config.mode
        if not current.embedding_model and mode != "lexical":
            if requested == "vector":
                raise InvalidRequestError(
                    f"collection {current.name!r} has no vectors: ask for 'lexical' or 'hybrid'",
                    param="mode",
                    code="collection_has_no_vectors",
                )
            return "lexical"
        return mode

    async def retrieve(
        self,
        collection: str,
        query: str,
        k: int,
        filters: Mapping[str, Any] | None = None,
        mode: str | None = None,
    ) -> RetrievalResult:
        """Raises ``NotFoundError`` for an unknown collection, ``InvalidRequestError`` for a
        mode the collection cannot serve, ``StoreUnavailableError`` or ``UpstreamError`` when
        a stage it cannot do without fails; the caller decides what a failure means."""
        started = time.perf_counter()
        current = await asyncio.to_thread(self._collection, collection)
        if current is None:
            if collection in self.configured_collections:
                return RetrievalResult(collection, 0, [])  # declared, not built yet: nothing to find
            raise NotFoundError(
                f"No collection {collection!r}", param="collection", code="collection_not_found"
            )
        chosen_mode = self.mode_for(current, mode)
        depth = max(self.config.candidates, k)
        wanted = dict(filters or {})
        lexical_task = (
            asyncio.to_thread(self._lexical, current, query, depth * (4 if wanted else 1))
            if chosen_mode != "vector"
            else None
        )
        vector: list[tuple[int, float]] | None = None
        fallback: str | None = None
        # The lexical ranking runs in the store while the query is embedded and searched.
        lexical_future = asyncio.ensure_future(lexical_task) if lexical_task is not None else None
        try:
            if chosen_mode != "lexical":
                try:
                    vector = await asyncio.wait_for(
                        self._vector(current, query, depth * ANN_OVERSAMPLE * (4 if wanted else 1)),
                        # Hybrid keeps half the budget for answering from its lexical half.
                        self.config.timeout_s * (VECTOR_BUDGET_SHARE if chosen_mode == "hybrid" else 1.0),
                    )
                except TimeoutError:
                    if chosen_mode == "vector":
                        raise
                    fallback = "the vector half timed out"
                except (UpstreamError, _VectorUnavailable) as exc:
                    if chosen_mode == "vector":
                        raise
                    fallback = str(exc) or exc.__class__.__name__
                    log.warning(
                        "hybrid retrieval answered from the lexical half: %s",
                        fallback,
                        extra={"collection": collection},
                    )
            lexical = await lexical_future if lexical_future is not None else []
        finally:
            if lexical_future is not None and not lexical_future.done():
                lexical_future.cancel()
        vector_weight, doc_prior = self.fusion(current)
        vector_ids = [chunk_id for chunk_id, _ in vector or []]
        passages, sizes = await asyncio.to_thread(
            self._fetch, current, [*lexical, *vector_ids], vector_ids if doc_prior > 0 else []
        )
        rankings: dict[str, list[int]] = {}
        if vector is not None:
            ranked = prior_ranking(vector, passages, sizes, doc_prior)
            rankings["vector"] = [i for i in ranked if _passes(passages[i], wanted)][:depth]
            self._forget_retired(current, vector_ids, passages)
        if chosen_mode != "vector":
            rankings["lexical"] = [i for i in lexical if i in passages and _passes(passages[i], wanted)][
                :depth
            ]
        weights = {"vector": vector_weight, "lexical": 1.0}
        chosen: list[Passage] = []
        for chunk_id, score, ranks in fuse(rankings, self.config.rrf_k, weights)[:k]:
            passage = passages[chunk_id]
            passage.score, passage.ranks = score, ranks
            chosen.append(passage)
        served = chosen_mode if fallback is None else "lexical"
        result = RetrievalResult(current.name, current.active_version, chosen, chosen_mode, served, fallback)
        self.stats.record(result, time.perf_counter() - started)
        return result

    def fusion(self, current: Collection) -> tuple[float, float]:
        """(vector_weight, doc_prior) for a collection: the config's, else its embeddings model's tuned pair."""
        tuned_weight, tuned_prior = fusion_for(current.embedding_model)
        weight, prior = self.config.vector_weight, self.config.doc_prior
        return (tuned_weight if weight is None else weight, tuned_prior if prior is None else prior)

    def _lexical(self, current: Collection, query: str, limit: int) -> list[int]:
        index = (
            self.lexical.usable(current.name, current.active_version) if self.lexical is not None else None
        )
        if index is not None:
            self.stats.lexical_engine[
                "memory" if index.version == current.active_version else "memory, catching up"
            ] += 1
            return index.search(query, limit)
        # No index yet (the first build is running): the store's full text.
        self.stats.lexical_engine["store"] += 1
        with self._database.connect(f"search collection {current.name!r}") as connection:
            return lexical_ranking(connection, current.name, current.active_version, query, limit)

    async def _vector(self, current: Collection, query: str, depth: int) -> list[tuple[int, float]]:
        assert current.embedding_model and self.ann is not None
        embedder = self.embedder(current.embedding_model, current.dimensions)
        if isinstance(embedder, LocalEmbedder) and not embedder.ready:
            # Never load on the request path: start-up loads it; until then, no vectors.
            self._load_in_background(embedder)
            raise _VectorUnavailable(
                f"embeddings model {embedder.model!r} is still loading"
                + (f" ({embedder.load_error})" if embedder.load_error else "")
            )
        ann = self.ann.ensure(current.name, current.active_version)
        if ann is None:
            raise _VectorUnavailable(f"the vector index of {current.name!r} is being built")
        try:
            query_vector = (await embedder.embed([query]))[0]
        except EmbeddingError:
            raise
        except HeadwayError as exc:
            raise _VectorUnavailable(str(exc)) from None
        return await asyncio.to_thread(ann.search_scored, query_vector, depth, self.config.min_similarity)

    def _load_in_background(self, embedder: LocalEmbedder) -> None:
        def load() -> None:
            try:
                embedder.load()
            except HeadwayError as exc:
                log.error("local embeddings model not loaded: %s", exc)

        now = time.monotonic()
        with self._embedders_lock:
            running = self._loads.get(embedder.model)
            if running is not None and (running[0].is_alive() or now - running[1] < LOAD_RETRY_S):
                return
            thread = threading.Thread(target=load, name="headway-embedder-load", daemon=True)
            self._loads[embedder.model] = (thread, now)
        thread.start()

    def _forget_retired(
        self, current: Collection, vector: list[int], passages: Mapping[int, Passage]
    ) -> None:
        """ANN hits that are no longer visible belong to retired chunks: drop them from the index."""
        assert self.ann is not None
        ann = self.ann.current(current.name)
        gone = [i for i in vector if i not in passages]
        if ann is not None and gone and ann.version >= current.active_version:
            ann.drop(gone)

    def _fetch(
        self, current: Collection, ids: list[int], sized: list[int]
    ) -> tuple[dict[int, Passage], dict[str, int]]:
        """Passages by chunk id, and how many chunks the documents of the ``sized`` ones have."""
        with self._database.connect(f"read passages of {current.name!r}") as connection:
            passages = fetch_passages(
                connection, current.name, list(dict.fromkeys(ids)), current.active_version
            )
            keys = [passages[i].doc_key for i in sized if i in passages]
            if not keys:
                return passages, {}
            index = (
                self.lexical.ready(current.name, current.active_version) if self.lexical is not None else None
            )
            if index is not None:  # current: it counts each document's chunks already
                return passages, index.sizes(keys)
            return passages, document_sizes(connection, current.name, current.active_version, keys)


class _VectorUnavailable(UpstreamError):
    """The vector half cannot answer now (model loading, index building)."""

    def __init__(self, message: str) -> None:
        super().__init__("connection", message)


def _passes(passage: Passage, filters: Mapping[str, Any]) -> bool:
    return not filters or matches(passage.metadata, passage.doc_key, passage.source, filters)


def _ann_directory(database: Database, configured: str | None) -> Path | None:
    if configured is not None:
        return Path(configured).expanduser()
    file = database.file_path
    if file is not None:
        return file.with_name(file.name + ".ann")
    return Path(tempfile.gettempdir()) / "headway-ann"
