"""Vector search without scanning every vector: a faiss index per collection, kept current.

Each collection's vectors live in one faiss index per process, keyed by chunk id:
exact inner product (``IndexFlatIP``) while the collection is small, an inverted-file
index (``IndexIVFFlat``: ``nlist ≈ 4·√n`` k-means cells, ``nprobe`` of them searched)
once it holds ``ivf_from`` vectors or more. Vectors are L2-normalised, so inner product
is cosine similarity.

Kept current incrementally: the index remembers the published version it reflects; when
the collection moves on, only chunks added since are read from the store and added, in
small batches so searches interleave with the update. Chunks retired since are not looked
up: every hit is re-checked against the reader's version when its passage is fetched, so
a retired chunk is never returned, and it is dropped from the index when a search meets
it. When such leftovers pass ``REBUILD_STALE_SHARE`` of the index, it is rebuilt.

Persisted beside the collection: ``<directory>/<store>-<collection>.faiss`` plus a JSON
sidecar with the version. A restart reads the file and applies the versions published
since instead of re-reading every vector. Each replica (SQLite or PostgreSQL) keeps its
own file, built from the store; nothing needs a database extension.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, func, select

from headway.retrieval.embedder import from_blob
from headway.retrieval.index import get_collection, visible_at
from headway.retrieval.refresher import CollectionRefresher, replica_file
from headway.retrieval.tables import retrieval_chunks
from headway.store import Database

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger("headway.retrieval.ann")

UPDATE_BATCH = 2000  # vectors added per lock hold: searches wait at most one batch
REBUILD_STALE_SHARE = 0.2
READ_BATCH = 5000


@dataclass(frozen=True, slots=True)
class AnnSettings:
    ivf_from: int = 20_000  # below this many vectors, exact search is as fast
    nprobe: int = 48  # cells searched; recall against exact search ≥ 0.98 on the bench corpus
    threads: int = 1  # faiss OpenMP threads; searches from many requests already run in parallel


@dataclass
class AnnIndex:
    collection: str
    dimensions: int
    index: Any  # faiss.Index (with ids)
    version: int  # the published version whose chunks are all in the index
    stale: int = 0  # retired chunks met in searches and not yet removed
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    def search(self, vector: np.ndarray, count: int, min_similarity: float) -> list[int]:
        return [chunk_id for chunk_id, _ in self.search_scored(vector, count, min_similarity)]

    def search_scored(self, vector: np.ndarray, count: int, min_similarity: float) -> list[tuple[int, float]]:
        """``(chunk id, cosine similarity)`` of the nearest vectors, nearest first."""
        import numpy as np

        query = np.ascontiguousarray(vector.reshape(1, -1), dtype=np.float32)
        with self.lock:
            if self.index.ntotal == 0:
                return []
            scores, ids = self.index.search(query, count)
        return [
            (int(i), float(s))
            for s, i in zip(scores[0], ids[0], strict=True)
            if i >= 0 and s >= min_similarity
        ]

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        for start in range(0, len(ids), UPDATE_BATCH):
            with self.lock:
                self.index.add_with_ids(
                    vectors[start : start + UPDATE_BATCH], ids[start : start + UPDATE_BATCH]
                )

    def drop(self, ids: list[int]) -> None:
        """Forget chunks a search found retired."""
        if ids:
            import numpy as np

            with self.lock:
                removed = self.index.remove_ids(np.asarray(ids, dtype=np.int64))
            self.stale += int(removed)


def _faiss() -> Any:
    """faiss and numpy (~30 MB resident) load with the first index, not with every gateway
    process: most never hold a collection."""
    import faiss

    return faiss


def _new_index(dimensions: int, vectors: np.ndarray, settings: AnnSettings) -> Any:
    import numpy as np

    faiss = _faiss()
    if len(vectors) < settings.ivf_from:
        return faiss.IndexIDMap2(faiss.IndexFlatIP(dimensions))
    cells = max(16, int(4 * math.sqrt(len(vectors))))
    quantiser = faiss.IndexFlatIP(dimensions)
    index = faiss.IndexIVFFlat(quantiser, dimensions, cells, faiss.METRIC_INNER_PRODUCT)
    sample = vectors[
        np.random.default_rng(0).choice(len(vectors), min(len(vectors), cells * 40), replace=False)
    ]
    index.train(sample)
    index.nprobe = settings.nprobe
    return index


class AnnStore:
    """This process's ANN indexes, by collection; readers share them, updates are incremental."""

    def __init__(
        self, database: Database, directory: Path | None, settings: AnnSettings | None = None
    ) -> None:
        self.database = database
        self.directory = directory
        self.settings = settings or AnnSettings()
        self._threads_set = False  # faiss's OpenMP threads, set when faiss is first needed
        self._indexes: dict[str, AnnIndex] = {}
        self._refresher: CollectionRefresher[AnnIndex] = CollectionRefresher("ann", self._refresh)
        self.on_refreshed: Callable[[str, int, float], None] | None = None  # (collection, version, seconds)

    def current(self, collection: str) -> AnnIndex | None:
        return self._indexes.get(collection)

    # --- keeping current ------------------------------------------------------------------

    def ensure(self, collection: str, version: int) -> AnnIndex | None:
        """The index to search for ``version`` now; starts a background refresh when it lags.

        Returns None while a collection's first index is being built: the caller answers
        without vectors (flagged) rather than wait."""
        found = self._indexes.get(collection)
        if found is None or found.version < version:
            self.refresh_in_background(collection)
        return found

    def refresh_in_background(self, collection: str) -> None:
        self._refresher.in_background(collection)

    def refresh(self, collection: str) -> AnnIndex | None:
        """Bring the collection's index up to its published version (blocking; one at a time per collection)."""
        return self._refresher.now(collection)

    def _lib(self) -> Any:
        faiss = _faiss()
        if not self._threads_set:
            faiss.omp_set_num_threads(self.settings.threads)
            self._threads_set = True
        return faiss

    def _refresh(self, collection: str) -> AnnIndex | None:
        faiss = self._lib()
        started = time.perf_counter()
        with self.database.connect("read a collection for its ANN index") as connection:
            current = get_collection(connection, collection)
            if current is None or not current.embedding_model or current.active_version == 0:
                return None  # nothing published yet (a first run may be writing its version)
            held = self._indexes.get(collection)
            found = held or self._load(collection)
            if (
                found is None
                or found.version > current.active_version  # a file from before the store was reset
                or found.stale > REBUILD_STALE_SHARE * max(1, found.size)
            ):
                found = self._build(connection, collection, current.active_version)
            elif found.version < current.active_version:
                ids, vectors = self._read(connection, collection, current.active_version, since=found.version)
                if len(ids) and vectors.shape[1] != found.index.d:  # the model (or its dimensions) changed
                    found = self._build(connection, collection, current.active_version)
                else:
                    found.add(ids, vectors)
                found.version = current.active_version
                if found.size >= self.settings.ivf_from and not isinstance(found.index, faiss.IndexIVFFlat):
                    found = self._build(connection, collection, current.active_version)
            elif held is not None:
                return found
            else:  # read from its file, already current: nothing to save
                self._indexes[collection] = found
                return found
        self._indexes[collection] = found
        self._save(found)
        if self.on_refreshed is not None:
            self.on_refreshed(collection, found.version, time.perf_counter() - started)
        return found

    def _read(
        self, connection: Connection, collection: str, version: int, *, since: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        import numpy as np

        c = retrieval_chunks.c
        condition = [c.collection == collection, visible_at(version), c.embedding.is_not(None)]
        if since is not None:
            condition.append(c.added_version > since)
        ids: list[int] = []
        blobs: list[bytes] = []
        for row in connection.execute(select(c.id, c.embedding).where(*condition).order_by(c.id)):
            ids.append(int(row[0]))
            blobs.append(row[1])
        if not ids:
            return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
        return np.asarray(ids, dtype=np.int64), np.vstack([from_blob(b) for b in blobs])

    def _build(self, connection: Connection, collection: str, version: int) -> AnnIndex:
        import numpy as np

        ids, vectors = self._read(connection, collection, version)
        dimensions = vectors.shape[1] if len(ids) else self._dimensions(connection, collection)
        index = _new_index(dimensions, vectors, self.settings) if dimensions else None
        built = AnnIndex(collection, dimensions, index if index is not None else _empty(), version)
        if len(ids):
            built.add(ids, np.ascontiguousarray(vectors, dtype=np.float32))
        return built

    def _dimensions(self, connection: Connection, collection: str) -> int:
        c = retrieval_chunks.c
        blob = connection.execute(
            select(c.embedding).where(c.collection == collection, c.embedding.is_not(None)).limit(1)
        ).scalar()
        return 0 if blob is None else len(from_blob(blob))

    def visible_vectors(self, collection: str, version: int) -> int:
        c = retrieval_chunks.c
        with self.database.connect("count a collection's vectors") as connection:
            return int(
                connection.execute(
                    select(func.count()).where(
                        c.collection == collection, visible_at(version), c.embedding.is_not(None)
                    )
                ).scalar_one()
            )

    # --- persistence ----------------------------------------------------------------------

    def file_of(self, collection: str) -> Path | None:
        """Where this store's index of ``collection`` is kept (None: not persisted)."""
        paths = self._paths(collection)
        return None if paths is None else paths[0]

    def _paths(self, collection: str) -> tuple[Path, Path] | None:
        data = replica_file(self.directory, self.database, collection, ".faiss")
        return None if data is None else (data, data.with_name(data.name.removesuffix(".faiss") + ".json"))

    def _save(self, found: AnnIndex) -> None:
        paths = self._paths(found.collection)
        if paths is None or found.size == 0:
            return
        data, meta = paths
        data.parent.mkdir(parents=True, exist_ok=True)
        faiss = self._lib()
        with found.lock:
            faiss.write_index(found.index, str(data) + ".tmp")
        Path(str(data) + ".tmp").replace(data)
        meta.write_text(
            json.dumps({"collection": found.collection, "version": found.version, "size": found.size})
        )

    def _load(self, collection: str) -> AnnIndex | None:
        paths = self._paths(collection)
        if paths is None or not paths[0].exists() or not paths[1].exists():
            return None
        faiss = self._lib()
        try:
            meta = json.loads(paths[1].read_text())
            index = faiss.read_index(str(paths[0]))
        except (OSError, ValueError, RuntimeError):
            log.warning("ANN file unreadable; rebuilding from the store", extra={"collection": collection})
            return None
        if isinstance(index, faiss.IndexIVFFlat):
            index.nprobe = self.settings.nprobe
        return AnnIndex(collection, index.d, index, int(meta["version"]))


def _empty() -> Any:
    faiss = _faiss()
    return faiss.IndexIDMap2(faiss.IndexFlatIP(1))
