"""The one translation of database errors: an outage becomes ``StoreUnavailableError``, a bug surfaces.

An outage is the store being out of reach for now: a lost or refused connection, a
timeout, a lock wait that ran out, the SQLite file gone or unreadable, the disk full.
Callers degrade on it (buffer, spill, answer 503) and retry later.

Everything else (a missing table or column, a syntax error, an ``IntegrityError`` the
caller did not expect, a ``ProgrammingError``) is a bug in Headway or its schema: it is
re-raised unchanged so it is logged with its traceback and answered as a 500 with the
request id. Calling it "store unavailable" would hide it behind a retry loop forever.

Use ``translate_errors`` (a context manager and a decorator) around store access; a
repository catches ``IntegrityError`` itself where a conflict is expected (idempotent
inserts, random-id collisions) before this translation sees it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import exc as sa_exc

from headway.errors import StoreUnavailableError

__all__ = ["StoreUnavailableError", "is_outage", "translate_errors"]

# SQLite primary result codes that mean "the database cannot be used right now", as
# opposed to SQLITE_ERROR (1: no such table, syntax error) and SQLITE_CONSTRAINT (19),
# which are bugs. https://www.sqlite.org/rescode.html
_SQLITE_OUTAGE_CODES = frozenset(
    {
        5,  # SQLITE_BUSY: a lock wait ran out
        6,  # SQLITE_LOCKED
        7,  # SQLITE_NOMEM
        8,  # SQLITE_READONLY: file or folder no longer writable
        10,  # SQLITE_IOERR
        11,  # SQLITE_CORRUPT
        13,  # SQLITE_FULL: disk full
        14,  # SQLITE_CANTOPEN: file or folder gone
        15,  # SQLITE_PROTOCOL
        26,  # SQLITE_NOTADB: the path now holds something else
    }
)


def _sqlite_outage(error: sqlite3.Error) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    if code is None:  # raised by Headway itself (connection hooks) without a result code
        return isinstance(error, sqlite3.OperationalError)
    return (code & 0xFF) in _SQLITE_OUTAGE_CODES


# PostgreSQL SQLSTATE classes (and single states) that mean "not now" rather than "wrong":
# 08 connection, 40 serialization failure / deadlock (retry), 53 insufficient resources
# (disk full, too many connections), 57 operator intervention (shutdown, statement
# timeout), 58 system I/O error; 55P03 lock wait timed out, 25006 a read-only standby
# (a failover in progress). https://www.postgresql.org/docs/current/errcodes-appendix.html
_POSTGRES_OUTAGE_CLASSES = frozenset({"08", "40", "53", "57", "58"})
_POSTGRES_OUTAGE_STATES = frozenset({"55P03", "25006"})


def _server_outage(error: sa_exc.DBAPIError) -> bool:
    sqlstate = getattr(error.orig, "sqlstate", None)
    if not sqlstate:
        # No answer from the server at all: refused, reset, closed, timed out connecting.
        return isinstance(error, (sa_exc.OperationalError, sa_exc.InterfaceError))
    return sqlstate[:2] in _POSTGRES_OUTAGE_CLASSES or sqlstate in _POSTGRES_OUTAGE_STATES


def is_outage(error: BaseException) -> bool:
    """Whether ``error`` means the store is out of reach (rather than a bug that must surface)."""
    if isinstance(error, StoreUnavailableError):
        return True
    if isinstance(error, (sa_exc.DisconnectionError, sa_exc.TimeoutError)):
        return True  # a dead pooled connection; the pool waited too long for a free one
    if isinstance(error, sa_exc.DBAPIError):
        if error.connection_invalidated:
            return True  # the driver said the connection is gone
        original = error.orig
        if isinstance(original, sqlite3.Error):
            return _sqlite_outage(original)
        # PostgreSQL: a missing table (42P01) or a constraint violation (23xxx) is a bug.
        return _server_outage(error)
    return False


@contextmanager
def translate_errors(action: str) -> Iterator[None]:
    """Raise ``StoreUnavailableError("cannot <action>: …")`` for an outage; let a bug through."""
    try:
        yield
    except sa_exc.SQLAlchemyError as error:
        if is_outage(error):
            raise StoreUnavailableError(f"cannot {action}: {error.__class__.__name__}") from error
        raise
