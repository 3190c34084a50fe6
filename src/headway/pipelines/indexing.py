"""Publish accepted records into a retrieval collection as a new index version.

Only new and changed documents are chunked; only chunks whose text hash has no stored
embedding are embedded, so an unchanged re-run embeds nothing and an edited document
re-embeds just its edited chunks. The version becomes visible in ``commit`` (called in
the run's final transaction) or is undone by ``abandon``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection

from headway.config import IndexConfig
from headway.pipelines.sources import SourceRecord
from headway.retrieval import (
    Embedder,
    abandon_index_version,
    add_chunks,
    begin_index_version,
    chunk_text,
    publish_index_version,
    retire_documents,
    reusable_embeddings,
    to_blob,
)
from headway.store import Database

Progress = Callable[[str, int, int], None]
ANALYZE_AFTER_CHUNKS = 1000  # refresh planner statistics after loads this large


@dataclass(frozen=True, slots=True)
class Document:
    doc_key: str
    title: str
    text: str
    source: str | None
    metadata: dict[str, Any]


def fingerprint(index: IndexConfig | None) -> str:
    """Index settings that change what a record becomes: a change re-indexes every record."""
    if index is None:
        return ""
    return json.dumps(
        [
            index.embeddings,
            index.dimensions,
            index.chunk_chars,
            index.overlap_chars,
            index.text_fields,
            index.title_field,
            index.metadata_fields,
        ]
    )


def to_document(record: SourceRecord, index: IndexConfig, *, folder: bool) -> Document:
    fields = record.fields
    metadata = {name: fields.get(name) for name in index.metadata_fields if name in fields}
    if folder:
        metadata.setdefault("type", fields.get("type"))
        return Document(
            record.key,
            str(fields.get("title") or record.key),
            str(fields.get("text") or ""),
            record.key,
            metadata,
        )
    if index.text_fields:
        text = "\n\n".join(str(fields[f]) for f in index.text_fields if fields.get(f) not in (None, ""))
    else:
        text = "\n".join(f"{k}: {v}" for k, v in fields.items() if v not in (None, ""))
    title = str(fields.get(index.title_field) or record.key) if index.title_field else record.key
    return Document(record.key, title, text, record.key, metadata)


@dataclass(slots=True)
class IndexBuild:
    collection: str
    version: int
    embedding_model: str | None
    dimensions: int | None
    counts: dict[str, int] = field(default_factory=dict)

    def commit(self, connection: Connection) -> None:
        big = self.counts.get("chunks_added", 0) >= ANALYZE_AFTER_CHUNKS
        publish_index_version(
            connection,
            self.collection,
            self.version,
            embedding_model=self.embedding_model,
            dimensions=self.dimensions,
            analyze=big,
        )

    def abandon(self, database: Database) -> None:
        with database.transaction("abandon an unpublished index version") as connection:
            abandon_index_version(connection, self.collection, self.version)


async def build(
    database: Database,
    collection: str,
    index: IndexConfig,
    embedder: Embedder | None,
    documents: Sequence[Document],
    retire: Sequence[str],
    progress: Progress | None = None,
) -> IndexBuild:
    model = embedder.model if embedder is not None else None

    def begin() -> int:
        with database.transaction("begin an index version") as connection:
            version = begin_index_version(connection, collection, embedding_model=model, dimensions=index.dimensions)
            retire_documents(connection, collection, version, retire)
            return version

    result = IndexBuild(collection, await asyncio.to_thread(begin), model, index.dimensions)
    chunks = [
        (document, chunk)
        for document in documents
        for chunk in chunk_text(
            document.title, document.text, chunk_chars=index.chunk_chars, overlap_chars=index.overlap_chars
        )
    ]
    embeddings: dict[str, bytes] = {}
    if embedder is not None and chunks:

        def reusable() -> dict[str, bytes]:
            with database.connect("read reusable embeddings") as connection:
                return reusable_embeddings(connection, collection, (c.content_hash for _, c in chunks))

        embeddings = await asyncio.to_thread(reusable)
        missing: dict[str, str] = {}
        for _, chunk in chunks:
            if chunk.content_hash not in embeddings:
                missing.setdefault(chunk.content_hash, chunk.embedding_input)
        result.counts["chunks_reused"] = len({c.content_hash for _, c in chunks}) - len(missing)
        result.counts["chunks_embedded"] = len(missing)
        pending = list(missing.items())
        step = max(1, index.batch_size * 4)
        for start in range(0, len(pending), step):
            batch = pending[start : start + step]
            vectors = await embedder.embed([text for _, text in batch])
            for (content_hash, _), vector in zip(batch, vectors, strict=True):
                embeddings[content_hash] = to_blob(vector)
            if progress is not None:
                progress("embed", min(start + step, len(pending)), len(pending))
    rows = [
        {
            "collection": collection,
            "doc_key": document.doc_key,
            "ordinal": chunk.ordinal,
            "title": chunk.title,
            "source": document.source,
            "text": chunk.text,
            "metadata": document.metadata,
            "content_hash": chunk.content_hash,
            "embedding": embeddings.get(chunk.content_hash),
            "added_version": result.version,
        }
        for document, chunk in chunks
    ]

    def write() -> None:
        with database.transaction("add chunks to an index version") as connection:
            add_chunks(connection, rows)

    await asyncio.to_thread(write)
    result.counts["chunks_added"] = len(rows)
    return result
