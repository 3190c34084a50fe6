"""The SQL store: SQLite embedded, PostgreSQL scaled out, one SQLAlchemy Core implementation.

Differences between the two backends stay inside this module (connection set-up and the
dialect's ``INSERT … ON CONFLICT DO NOTHING``), so callers see one behaviour.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from headway.errors import StoreUnavailableError
from headway.store import migrate
from headway.store.base import RequestQuery
from headway.store.tables import requests
from headway.types import RequestRecord


def normalise_url(url: str) -> str:
    """Accept the URL forms operators write; select the psycopg 3 driver for PostgreSQL."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def create_store_engine(url: str) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, poolclass=NullPool)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            # WAL lets readers (console, CLI) run while the request-log writer commits.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(
        url,
        pool_size=5,
        max_overflow=5,
        pool_pre_ping=True,
        pool_recycle=300,
        connect_args={"connect_timeout": 3},
    )


_REQUEST_COLUMNS = tuple(c.name for c in requests.columns)


def _row_to_record(row: Any) -> RequestRecord:
    data = dict(row._mapping)
    return RequestRecord.from_dict(data)


def _record_to_row(record: RequestRecord) -> dict[str, Any]:
    data = record.to_dict()
    return {name: data.get(name) for name in _REQUEST_COLUMNS}


class SqlStore:
    """``Store`` over SQLAlchemy; see ``base.Store`` for the contract."""

    def __init__(self, url: str, *, engine: Engine | None = None) -> None:
        self.url = url
        self.engine = engine or create_store_engine(url)
        self.dialect = self.engine.dialect.name

    def migrate(self) -> None:
        try:
            migrate.upgrade(self.engine)
        except SQLAlchemyError as exc:
            raise StoreUnavailableError(f"migration failed: {exc.__class__.__name__}: {exc}") from exc

    def ping(self) -> None:
        try:
            with self.engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
        except SQLAlchemyError as exc:
            raise StoreUnavailableError(f"store unreachable: {exc.__class__.__name__}") from exc

    def _insert_ignore(self, table: Any) -> Any:
        if self.dialect == "postgresql":
            return postgresql.insert(table).on_conflict_do_nothing()
        return sqlite.insert(table).on_conflict_do_nothing()

    def write_requests(self, records: Sequence[RequestRecord]) -> int:
        if not records:
            return 0
        rows = [_record_to_row(r) for r in records]
        try:
            with self.engine.begin() as connection:
                result = connection.execute(self._insert_ignore(requests), rows)
                return int(result.rowcount or 0)
        except SQLAlchemyError as exc:
            raise StoreUnavailableError(f"cannot write request records: {exc.__class__.__name__}") from exc

    def get_request(self, request_id: str) -> RequestRecord | None:
        try:
            with self.engine.connect() as connection:
                row = connection.execute(select(requests).where(requests.c.request_id == request_id)).first()
        except SQLAlchemyError as exc:
            raise StoreUnavailableError(f"cannot read request records: {exc.__class__.__name__}") from exc
        return _row_to_record(row) if row is not None else None

    def list_requests(self, query: RequestQuery) -> list[RequestRecord]:
        statement = select(requests).order_by(requests.c.created_at.desc()).limit(query.limit)
        if query.model:
            statement = statement.where(requests.c.model == query.model)
        if query.caller:
            statement = statement.where(requests.c.caller == query.caller)
        if query.team:
            statement = statement.where(requests.c.team == query.team)
        if query.since is not None:
            statement = statement.where(requests.c.created_at >= query.since)
        if query.status == "ok":
            statement = statement.where(requests.c.status_code < 400)
        elif query.status == "error":
            statement = statement.where(requests.c.status_code >= 400)
        try:
            with self.engine.connect() as connection:
                return [_row_to_record(row) for row in connection.execute(statement)]
        except SQLAlchemyError as exc:
            raise StoreUnavailableError(f"cannot read request records: {exc.__class__.__name__}") from exc

    def close(self) -> None:
        self.engine.dispose()


def open_store(url: str) -> SqlStore:
    return SqlStore(url)
