"""Write side of a collection: versioned chunks, published in one update.

A pipeline run calls ``begin`` (a new version number, leftovers of crashed runs
cleared), adds and retires chunks at that version, then either ``publish`` (readers
switch to it; retired chunks are deleted) or ``abandon`` (everything it did is undone).
Readers never see a half-built version, so a failed run leaves the last good index
serving. Methods take a SQLAlchemy ``Connection`` so the caller can publish the index
and its own bookkeeping in one transaction.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update

from headway.retrieval.tables import retrieval_chunks, retrieval_collections
from headway.store import refresh_statistics

_BATCH = 500


@dataclass(frozen=True, slots=True)
class Collection:
    name: str
    embedding_model: str | None
    dimensions: int | None
    active_version: int
    next_version: int
    updated_at: float


def visible_at(version: int) -> Any:
    """The SQL condition for chunks readers see at ``version``."""
    c = retrieval_chunks.c
    return and_(c.added_version <= version, or_(c.removed_version.is_(None), c.removed_version > version))


def get_collection(connection: Connection, name: str) -> Collection | None:
    row = connection.execute(
        select(retrieval_collections).where(retrieval_collections.c.name == name)
    ).first()
    return Collection(**row._mapping) if row is not None else None


def list_collections(connection: Connection) -> list[Collection]:
    rows = connection.execute(select(retrieval_collections).order_by(retrieval_collections.c.name))
    return [Collection(**row._mapping) for row in rows]


def begin(connection: Connection, name: str, *, embedding_model: str | None, dimensions: int | None) -> int:
    """Start a new version of ``name`` and return its number."""
    current = get_collection(connection, name)
    now = time.time()
    if current is None:
        connection.execute(
            insert(retrieval_collections).values(
                name=name,
                embedding_model=embedding_model,
                dimensions=dimensions,
                active_version=0,
                next_version=1,
                updated_at=now,
            )
        )
        return 1
    _undo_after(connection, name, current.active_version)
    version = current.next_version + 1
    connection.execute(
        update(retrieval_collections)
        .where(retrieval_collections.c.name == name)
        .values(next_version=version, updated_at=now)
    )
    return version


def _undo_after(connection: Connection, name: str, version: int) -> None:
    c = retrieval_chunks.c
    connection.execute(delete(retrieval_chunks).where(c.collection == name, c.added_version > version))
    connection.execute(
        update(retrieval_chunks)
        .where(c.collection == name, c.removed_version > version)
        .values(removed_version=None)
    )


def reusable_embeddings(connection: Connection, name: str, hashes: Iterable[str]) -> dict[str, bytes]:
    """Embeddings already stored for these chunk hashes: changed documents re-embed only new text."""
    wanted = list(set(hashes))
    found: dict[str, bytes] = {}
    c = retrieval_chunks.c
    for start in range(0, len(wanted), _BATCH):
        rows = connection.execute(
            select(c.content_hash, c.embedding).where(
                c.collection == name,
                c.content_hash.in_(wanted[start : start + _BATCH]),
                c.embedding.is_not(None),
            )
        )
        for content_hash, blob in rows:
            found.setdefault(content_hash, blob)
    return found


def add_chunks(connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
    for start in range(0, len(rows), _BATCH):
        connection.execute(insert(retrieval_chunks), list(rows[start : start + _BATCH]))


def retire_documents(connection: Connection, name: str, version: int, doc_keys: Iterable[str]) -> int:
    """Hide every current chunk of these documents from ``version`` on."""
    keys = list(doc_keys)
    c = retrieval_chunks.c
    retired = 0
    for start in range(0, len(keys), _BATCH):
        result = connection.execute(
            update(retrieval_chunks)
            .where(
                c.collection == name,
                c.doc_key.in_(keys[start : start + _BATCH]),
                c.added_version < version,
                c.removed_version.is_(None),
            )
            .values(removed_version=version)
        )
        retired += int(result.rowcount or 0)
    return retired


def publish(
    connection: Connection,
    name: str,
    version: int,
    *,
    embedding_model: str | None,
    dimensions: int | None,
    analyze: bool = False,
) -> None:
    """Make ``version`` the one readers see; ``analyze`` after a large load (PostgreSQL's
    planner otherwise keeps pre-load statistics and scans instead of using the text index)."""
    connection.execute(
        update(retrieval_collections)
        .where(retrieval_collections.c.name == name)
        .values(
            active_version=version,
            embedding_model=embedding_model,
            dimensions=dimensions,
            updated_at=time.time(),
        )
    )
    c = retrieval_chunks.c
    connection.execute(delete(retrieval_chunks).where(c.collection == name, c.removed_version <= version))
    if analyze:
        refresh_statistics(connection, "retrieval_chunks")


def abandon(connection: Connection, name: str, version: int) -> None:
    current = get_collection(connection, name)
    if current is not None and current.active_version < version:
        _undo_after(connection, name, current.active_version)


def count_visible(connection: Connection, name: str) -> int:
    current = get_collection(connection, name)
    if current is None:
        return 0
    c = retrieval_chunks.c
    statement = (
        select(func.count())
        .select_from(retrieval_chunks)
        .where(c.collection == name, visible_at(current.active_version))
    )
    return int(connection.execute(statement).scalar_one())
