"""Read side of a collection: lexical and vector rankings, fused by reciprocal rank.

Lexical: the in-memory BM25 index of ``lexical.py`` once built; until then (and
with ``retrieval.lexical_index: false``) SQLite FTS5 (bm25) or PostgreSQL full text
(``ts_rank``: cover density, ``ts_rank_cd``, measured 1.6× slower for no gain in recall on
the bundled corpus), terms OR-ed so a question matches passages sharing any of its words.
Vector: ``ann.py`` (faiss), re-ranked with a document-length prior (``doc_prior``; see
``prior_ranking``). Fusion: weighted reciprocal rank fusion, which needs no score
calibration between the rankers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select

from headway.retrieval.tables import retrieval_chunks
from headway.store import full_text_ranking

_TERM = re.compile(r"\w+", re.UNICODE)
_MAX_TERMS = 32
# Words that match nearly every passage: OR-ing them in only makes the lexical ranker score more rows.
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "how",
        "i",
        "in",
        "is",
        "it",
        "me",
        "my",
        "of",
        "on",
        "or",
        "our",
        "should",
        "so",
        "that",
        "the",
        "their",
        "there",
        "this",
        "to",
        "was",
        "we",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
    ]
)


@dataclass(slots=True)
class Passage:
    chunk_id: int
    collection: str
    doc_key: str
    title: str | None
    source: str | None
    text: str
    metadata: dict[str, Any]
    score: float = 0.0
    ranks: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "chunk_id": self.chunk_id,
            "collection": self.collection,
            "doc_key": self.doc_key,
            "title": self.title,
            "source": self.source,
            "text": self.text,
            "metadata": self.metadata,
            "score": round(self.score, 6),
            "ranks": self.ranks,
        }


def query_terms(query: str) -> list[str]:
    seen: dict[str, None] = {}
    for term in _TERM.findall(query.lower()):
        if term not in STOPWORDS:
            seen.setdefault(term, None)
    return list(seen)[:_MAX_TERMS]


def matches(
    metadata: Mapping[str, Any], doc_key: str, source: str | None, filters: Mapping[str, Any]
) -> bool:
    """Equality (or membership, for a list) on metadata fields, ``doc_key`` and ``source``."""
    for name, wanted in filters.items():
        value = doc_key if name == "doc_key" else source if name == "source" else metadata.get(name)
        if isinstance(wanted, list):
            if value not in wanted:
                return False
        elif value != wanted:
            return False
    return True


def lexical_ranking(
    connection: Connection, collection: str, version: int, query: str, limit: int
) -> list[int]:
    """Chunk ids of ``collection`` at ``version`` best matching the query's terms (full text), best first."""
    terms = query_terms(query)
    if not terms:
        return []
    statement = full_text_ranking(
        connection,
        table="retrieval_chunks",
        fts_table="retrieval_fts",
        tsvector="tsv",
        where="t.collection = :c AND t.added_version <= :v AND (t.removed_version IS NULL OR t.removed_version > :v)",
        terms=terms,
        limit=limit,
    )
    return [row[0] for row in connection.execute(statement, {"c": collection, "v": version})]


def fuse(
    rankings: Mapping[str, Sequence[int]], k: int, weights: Mapping[str, float] | None = None
) -> list[tuple[int, float, dict[str, int]]]:
    """Weighted reciprocal rank fusion: score = Σ weight / (k + rank)."""
    scores: dict[int, float] = {}
    ranks: dict[int, dict[str, int]] = {}
    for name, ranking in rankings.items():
        weight = 1.0 if weights is None else weights.get(name, 1.0)
        for rank, chunk_id in enumerate(ranking, start=1):
            scores[chunk_id] = scores.get(chunk_id, 0.0) + weight / (k + rank)
            ranks.setdefault(chunk_id, {})[name] = rank
    ordered = sorted(scores, key=lambda i: (-scores[i], i))
    return [(i, scores[i], ranks[i]) for i in ordered]


def fetch_passages(
    connection: Connection, collection: str, ids: Sequence[int], version: int | None = None
) -> dict[int, Passage]:
    """Passages by chunk id; with ``version``, only those readers of that version see
    (an approximate index may still hold chunks retired since it was updated)."""
    if not ids:
        return {}
    c = retrieval_chunks.c
    # By primary key only: adding the collection lets SQLite pick the collection index and scan it.
    rows = connection.execute(
        select(
            c.id,
            c.collection,
            c.doc_key,
            c.title,
            c.source,
            c.text,
            c.metadata,
            c.added_version,
            c.removed_version,
        ).where(c.id.in_(list(ids)))
    )
    return {
        row[0]: Passage(row[0], collection, row[2], row[3], row[4], row[5], row[6] or {})
        for row in rows
        if row[1] == collection
        and (version is None or (row[7] <= version and (row[8] is None or row[8] > version)))
    }


def document_sizes(
    connection: Connection, collection: str, version: int, doc_keys: Sequence[str]
) -> dict[str, int]:
    """How many chunks each of these documents has at ``version``.

    Looked up by ``(collection, doc_key)`` only and counted here: with the version
    condition in SQL, SQLite picks the version index and reads the whole collection
    (measured 340 ms at 100,000 chunks against 2.5 ms)."""
    wanted = list(dict.fromkeys(doc_keys))
    if not wanted:
        return {}
    c = retrieval_chunks.c
    sizes: dict[str, int] = {}
    for start in range(0, len(wanted), 500):
        rows = connection.execute(
            select(c.doc_key, c.added_version, c.removed_version).where(
                c.collection == collection, c.doc_key.in_(wanted[start : start + 500])
            )
        )
        for key, added, removed in rows:
            if added <= version and (removed is None or removed > version):
                sizes[key] = sizes.get(key, 0) + 1
    return sizes


def prior_ranking(
    scored: Sequence[tuple[int, float]],
    passages: Mapping[int, Passage],
    sizes: Mapping[str, int],
    prior: float,
) -> list[int]:
    """Vector matches re-ranked by ``similarity − prior · ln(chunks of the document)``.

    A long document has many chunks, so many chances to place one near any query: without
    the prior the first few documents are mostly the corpus's longest. ``retrieval.doc_prior``
    (0.02) was chosen on the bundled development questions (docs/benchmarks.md). Chunks
    missing from ``passages`` (retired, filtered) are dropped; ties keep the ANN order."""
    kept = [(chunk_id, similarity) for chunk_id, similarity in scored if chunk_id in passages]
    if prior <= 0:
        return [chunk_id for chunk_id, _ in kept]

    def adjusted(item: tuple[int, float]) -> float:
        size = max(1, sizes.get(passages[item[0]].doc_key, 1))
        return item[1] - prior * math.log(size)

    return [chunk_id for chunk_id, _ in sorted(kept, key=adjusted, reverse=True)]
