"""Tombstones of erased data subjects, so that erased request records never come back.

An erasure deletes a subject's request records, but records made before it may still be on
their way to the store: in a spill journal replayed later (by this process, a sibling worker,
or the next start) or in another worker's or replica's buffer. So the erasure also leaves a
tombstone per identifier (its sha256 hex, never the identifier) with the time of the erasure,
in the same transaction as its delete (``record_erasure``), and every request-log write, live
batch or journal replay alike, drops the records of a tombstoned caller, ``metadata.subject``
or ``metadata.user`` made at or before that time (``erased_positions``). A record made after
the erasure is new data and is kept.

The two cannot interleave: the erasure locks ``erased_subjects`` exclusively before it writes,
each write locks it shared before it reads the tombstones (``lock_table``). A write either
commits before the erasure's delete runs (which then deletes its records) or reads the
erasure's tombstones. Writes do not wait on each other; they wait for an erasure in progress.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from sqlalchemy import Connection

from headway.store.database import lock_table, upsert
from headway.store.tables import erased_subjects
from headway.types import RequestRecord

_SUBJECT_KEYS = ("subject", "user")  # the metadata keys an erasure matches, as well as the caller
_MAX_PARAMETERS = 10_000  # SQLite takes 32,766 bound parameters, PostgreSQL 65,535


def digest(identifier: str) -> str:
    """What a tombstone (and the audit trail) keeps instead of the identifier itself."""
    return hashlib.sha256(identifier.encode("utf-8")).hexdigest()


def record_erasure(connection: Connection, identifiers: Iterable[str], *, erased_at: float) -> None:
    """Tombstone ``identifiers`` as erased at ``erased_at``: first thing in the erasure's transaction.

    Waits for request-log writes in progress to commit, and holds later ones until the
    erasure commits (see the module's docstring).
    """
    lock_table(connection, erased_subjects.name, exclusive=True)
    rows = [{"digest": digest(identifier), "erased_at": erased_at} for identifier in dict.fromkeys(identifiers)]
    # A second erasure of the same subject moves its tombstone forward to the later time.
    connection.execute(upsert(connection, erased_subjects, key=["digest"], update=["erased_at"]), rows)


def _identifiers(record: RequestRecord) -> list[str]:
    names = [record.caller]
    metadata = record.metadata
    if isinstance(metadata, dict):
        for key in _SUBJECT_KEYS:
            value = metadata.get(key)
            if value.__class__ is str:
                names.append(value)
    return names


def erased_positions(connection: Connection, records: Sequence[RequestRecord]) -> set[int]:
    """Positions in ``records`` of records of an erased subject made at or before its erasure.

    First thing in the write's transaction: one small ``SELECT`` of the tombstones of the
    batch's distinct identifiers (usually none), under the shared lock.
    """
    lock_table(connection, erased_subjects.name, exclusive=False)
    names = {name for record in records for name in _identifiers(record)}
    if not names:
        return set()
    digests = {digest(name): name for name in names}
    wanted = list(digests)
    # The driver's own statement: SQLAlchemy's expanding IN cost ~2x this per batch. One
    # statement per batch unless it has more distinct identifiers than a statement takes.
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    erased_at: dict[str, float] = {}
    for start in range(0, len(wanted), _MAX_PARAMETERS):
        chunk = wanted[start : start + _MAX_PARAMETERS]
        statement = f"SELECT digest, erased_at FROM {erased_subjects.name} WHERE digest IN ({', '.join([mark] * len(chunk))})"
        erased_at.update((digests[found], at) for found, at in connection.exec_driver_sql(statement, tuple(chunk)))
    if not erased_at:
        return set()
    return {
        position
        for position, record in enumerate(records)
        if any(erased_at.get(name, float("-inf")) >= record.created_at for name in _identifiers(record))
    }
