"""Lexical ranking without scanning every match in SQL: an in-memory BM25 index per collection.

SQLite FTS5 and PostgreSQL full text score every chunk that shares a word with the query;
at 100,000 chunks that alone took ~100 ms per query. This index keeps, per stemmed term,
the chunks holding it and how often (its postings, appended to in place), so a query reads
only its own terms' postings and scores them with numpy: Okapi BM25 (``k1`` 1.2, ``b``
0.75) over the chunk's title and text, Snowball English stemming (PyStemmer), the
stopwords of ``search.py`` dropped. A query costs time in the postings it reads, not in
the size of the collection.

Kept current like the ANN index (``ann.py``): it remembers the published version it
reflects; when the collection moves on, the chunks added since are read from the store and
appended, and chunks no longer visible are marked dead (one read of the visible ids), so
they are never ranked. When dead chunks pass ``REBUILD_DEAD_SHARE`` it is rebuilt (dead
chunks still count in document frequencies until then). While a collection's index is
being built, ``Retriever`` ranks with the store's full text instead; while it catches up
after a publish, with the previous version's index (``LexicalStore.usable``) — readers
never wait for it. Held in memory per process and, where the ANN index keeps its files
(``retrieval.ann_dir``, or beside a SQLite database), saved after each refresh
(``lexical_file.py``): a start reads it back and catches up from its version instead of
re-reading every chunk; without a folder it is rebuilt from the store at start-up (in the
background). Nothing needs a database extension, and SQLite and PostgreSQL stores get the
same ranking.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from headway.retrieval import lexical_file
from headway.retrieval.index import get_collection, visible_at
from headway.retrieval.refresher import CollectionRefresher, replica_file
from headway.retrieval.search import STOPWORDS
from headway.retrieval.tables import retrieval_chunks
from headway.store import Database

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger("headway.retrieval.lexical")

K1 = 1.2
B = 0.75
REBUILD_DEAD_SHARE = 0.2
ADD_BATCH = 2000  # chunks tokenised and appended per lock hold: searches wait at most one batch
_WORD = re.compile(r"\w+", re.UNICODE)
_MAX_QUERY_TERMS = 32


class Analyzer:
    """Text → index terms: lower-cased words, stopwords dropped, Snowball English stems.

    Not thread-safe (PyStemmer's stemmer keeps a cache): each index holds its own."""

    def __init__(self) -> None:
        import Stemmer  # with the first index, not with every gateway process (as numpy: ann.py)

        self._stemmer: Any = Stemmer.Stemmer("english")

    def terms(self, text: str) -> list[str]:
        words = [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS]
        return list(self._stemmer.stemWords(words))


@dataclass
class LexicalIndex:
    collection: str
    version: int = 0  # the published version whose chunks are all in the index
    chunk_ids: array[int] = field(default_factory=lambda: array("q"))  # position -> chunk id
    lengths: array[float] = field(default_factory=lambda: array("f"))  # position -> terms in the chunk
    alive: bytearray = field(default_factory=bytearray)  # position -> 1 while the chunk is visible
    # term -> (positions of the chunks holding it, how often each holds it)
    postings: dict[str, tuple[array[int], array[int]]] = field(default_factory=dict)
    positions: dict[int, int] = field(default_factory=dict)  # chunk id -> position
    doc_keys: list[str] = field(default_factory=list)  # position -> its document
    doc_sizes: dict[str, int] = field(default_factory=dict)  # document -> visible chunks
    total_length: float = 0.0
    dead: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    analyzer: Analyzer = field(default_factory=Analyzer)

    @property
    def size(self) -> int:
        """Chunks ranked (dead ones excluded)."""
        return len(self.chunk_ids) - self.dead

    def add(self, rows: Iterable[tuple[int, str, str | None, str]]) -> int:
        """Append ``(chunk id, doc key, title, text)`` rows, in batches so searches interleave."""
        added = 0
        batch: list[tuple[int, str, list[str]]] = []
        analyzer = Analyzer()  # searches use the index's own, under its lock
        for chunk_id, doc_key, title, text in rows:
            if chunk_id in self.positions:
                continue
            batch.append((chunk_id, doc_key, analyzer.terms(f"{title}\n{text}" if title else text)))
            if len(batch) >= ADD_BATCH:
                added += self._append(batch)
                batch = []
        return added + self._append(batch)

    def _append(self, batch: list[tuple[int, str, list[str]]]) -> int:
        if not batch:
            return 0
        with self.lock:
            for chunk_id, doc_key, terms in batch:
                position = len(self.chunk_ids)
                self.chunk_ids.append(chunk_id)
                self.doc_keys.append(doc_key)
                self.doc_sizes[doc_key] = self.doc_sizes.get(doc_key, 0) + 1
                self.lengths.append(float(len(terms)))
                self.alive.append(1)
                self.positions[chunk_id] = position
                self.total_length += len(terms)
                counts: dict[str, int] = {}
                for term in terms:
                    counts[term] = counts.get(term, 0) + 1
                for term, count in counts.items():
                    found = self.postings.get(term)
                    if found is None:
                        found = self.postings[term] = (array("i"), array("i"))
                    found[0].append(position)
                    found[1].append(count)
        return len(batch)

    def keep_only(self, visible: set[int]) -> int:
        """Mark every chunk not in ``visible`` dead; returns how many died now."""
        died = 0
        with self.lock:
            for chunk_id, position in self.positions.items():
                if self.alive[position] and chunk_id not in visible:
                    self.alive[position] = 0
                    died += 1
                    key = self.doc_keys[position]
                    left = self.doc_sizes.get(key, 1) - 1
                    if left > 0:
                        self.doc_sizes[key] = left
                    else:
                        self.doc_sizes.pop(key, None)
            self.dead += died
        return died

    def sizes(self, doc_keys: Iterable[str]) -> dict[str, int]:
        """Visible chunks of each of these documents (absent: none)."""
        found = self.doc_sizes
        return {key: found[key] for key in doc_keys if key in found}

    def search(self, query: str, limit: int) -> list[int]:
        """Chunk ids best matching the query (BM25), best first; only chunks sharing a term."""
        import numpy as np

        if limit <= 0:
            return []
        with self.lock:
            terms = list(dict.fromkeys(self.analyzer.terms(query)))[:_MAX_QUERY_TERMS]
            ids, scores = self._score(terms)  # copies: no view of the growing arrays outlives the lock
        keep = scores > 0
        ids, scores = ids[keep], scores[keep]
        if len(scores) > limit:
            top = np.argpartition(-scores, limit - 1)[:limit]
            ids, scores = ids[top], scores[top]
        order = np.lexsort((ids, -scores))  # best first, ties by chunk id
        return [int(i) for i in ids[order]]

    def _score(self, terms: list[str]) -> tuple[np.ndarray, np.ndarray]:
        import numpy as np

        count = len(self.chunk_ids)
        nothing = (np.zeros(0, dtype=np.int64), np.zeros(0))
        if not terms or count == 0:
            return nothing
        lengths = np.frombuffer(self.lengths, dtype=np.float32)
        average = self.total_length / count or 1.0
        places: list[np.ndarray] = []
        gains: list[np.ndarray] = []
        for term in terms:
            found = self.postings.get(term)
            if found is None:
                continue
            where = np.array(found[0], dtype=np.int64)
            tf = np.array(found[1], dtype=np.float32)
            df = len(where)
            idf = math.log(1.0 + (count - df + 0.5) / (df + 0.5))
            norm = K1 * (1.0 - B + B * lengths[where] / average)
            places.append(where)
            gains.append(idf * tf * (K1 + 1.0) / (tf + norm))
        if not places:
            return nothing
        candidates, inverse = np.unique(np.concatenate(places), return_inverse=True)
        scores = np.bincount(inverse, weights=np.concatenate(gains))
        scores[np.frombuffer(self.alive, dtype=np.uint8)[candidates] == 0] = -1.0
        return np.frombuffer(self.chunk_ids, dtype=np.int64)[candidates], scores


class LexicalStore:
    """This process's lexical indexes, by collection; built and kept current off the request path."""

    def __init__(self, database: Database, directory: Path | None = None) -> None:
        self.database = database
        self.directory = directory  # where each collection's index file is kept; None: not kept
        self._indexes: dict[str, LexicalIndex] = {}
        self._refresher: CollectionRefresher[LexicalIndex] = CollectionRefresher("lexical", self._refresh)
        self.on_refreshed: Callable[[str, int, float], None] | None = None  # (collection, version, seconds)

    def current(self, collection: str) -> LexicalIndex | None:
        return self._indexes.get(collection)

    def ready(self, collection: str, version: int) -> LexicalIndex | None:
        """The index when it reflects exactly ``version``; else None, and a background
        refresh is started."""
        found = self._indexes.get(collection)
        if found is not None and found.version == version:
            return found
        self.refresh_in_background(collection)
        return None

    def usable(self, collection: str, version: int) -> LexicalIndex | None:
        """The index to rank ``version`` with now: the current one, or — while a refresh
        catches up after a publish — the previous one (as the ANN index is searched: chunks
        added since are missed for that while, retired ones are dropped when passages are
        fetched for the reader's version). None when there is none yet or it is from
        ahead of ``version`` (a store reset): the caller ranks with the store's full text."""
        found = self._indexes.get(collection)
        if found is None or found.version != version:
            self.refresh_in_background(collection)
        if found is None or found.version > version:
            return None
        return found

    def refresh_in_background(self, collection: str) -> None:
        self._refresher.in_background(collection)

    def refresh(self, collection: str) -> LexicalIndex | None:
        """Bring the collection's index up to its published version (blocking; one at a time per collection)."""
        return self._refresher.now(collection)

    def _refresh(self, collection: str) -> LexicalIndex | None:
        started = time.perf_counter()
        with self.database.connect("read a collection for its lexical index") as connection:
            current = get_collection(connection, collection)
            if current is None or current.active_version == 0:
                return None
            version = current.active_version
            found = self._indexes.get(collection)
            if found is not None and found.version == version:
                return found
            if found is None:
                found = self._load(collection)
                if found is not None and found.version == version:  # read back, already current
                    self._indexes[collection] = found
                    return found
            if found is None or found.version > version:  # none, or a file from before a store reset
                found = self._build(connection, collection, version)
            else:
                visible = self._visible_ids(connection, collection, version)
                found.add(self._rows(connection, collection, version, since=found.version))
                found.keep_only(visible)
                if found.dead > REBUILD_DEAD_SHARE * max(1, len(found.chunk_ids)):
                    found = self._build(connection, collection, version)
                found.version = version
        self._indexes[collection] = found
        self._save(found)
        if self.on_refreshed is not None:
            self.on_refreshed(collection, found.version, time.perf_counter() - started)
        return found

    # --- the file ---------------------------------------------------------------------------
    def file_of(self, collection: str) -> Path | None:
        """Where this store's index of ``collection`` is kept (None: not kept)."""
        return replica_file(self.directory, self.database, collection, ".lexical")

    def _load(self, collection: str) -> LexicalIndex | None:
        path = self.file_of(collection)
        if path is None or not path.exists():
            return None
        found = lexical_file.load(path, collection)
        if found is None:
            log.warning("lexical index file unreadable; rebuilding from the store", extra={"collection": collection})
        return found

    def _save(self, found: LexicalIndex) -> None:
        path = self.file_of(found.collection)
        if path is None:
            return
        try:
            lexical_file.save(found, path)
        except OSError as exc:  # a full or read-only disk: the index still serves from memory
            log.warning("lexical index file not written: %s", exc, extra={"collection": found.collection})

    def _build(self, connection: Connection, collection: str, version: int) -> LexicalIndex:
        built = LexicalIndex(collection)
        built.add(self._rows(connection, collection, version))
        built.version = version
        return built

    @staticmethod
    def _rows(
        connection: Connection, collection: str, version: int, *, since: int | None = None
    ) -> Iterable[tuple[int, str, str | None, str]]:
        c = retrieval_chunks.c
        condition = [c.collection == collection, visible_at(version)]
        if since is not None:
            condition.append(c.added_version > since)
        result = connection.execute(
            select(c.id, c.doc_key, c.title, c.text)
            .where(*condition)
            .order_by(c.id)
            .execution_options(yield_per=5000)
        )
        for row in result:
            yield int(row[0]), str(row[1]), row[2], row[3]

    @staticmethod
    def _visible_ids(connection: Connection, collection: str, version: int) -> set[int]:
        c = retrieval_chunks.c
        rows = connection.execute(select(c.id).where(c.collection == collection, visible_at(version)))
        return {int(row[0]) for row in rows}
