"""Store access for jobs: transactions whose driver errors surface as ``StoreUnavailableError``."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from headway.errors import StoreUnavailableError


@contextmanager
def transaction(engine: Engine, what: str) -> Iterator[Connection]:
    """One transaction; ``what`` names the operation in the error (``cannot <what>``)."""
    try:
        with engine.begin() as connection:
            yield connection
    except SQLAlchemyError as exc:
        raise StoreUnavailableError(f"cannot {what}: {exc.__class__.__name__}: {exc}") from exc


def skip_locked(connection: Connection) -> bool:
    """Claims read with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite serialises writers anyway."""
    return connection.dialect.name == "postgresql"
