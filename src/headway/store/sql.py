"""The SQL store: SQLite embedded, PostgreSQL scaled out, one SQLAlchemy Core implementation.

Differences between the two backends stay inside this module (connection set-up and the
dialect's ``INSERT … ON CONFLICT DO NOTHING``), so callers see one behaviour.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.exc import DisconnectionError

from headway.store import migrate, tombstones
from headway.store.base import RequestQuery
from headway.store.database import Database
from headway.store.errors import translate_errors
from headway.store.tables import requests
from headway.types import RequestRecord, asdict_attempt

log = logging.getLogger("headway.store")

def normalise_url(url: str) -> str:
    """Accept the URL forms operators write; select the psycopg 3 driver for PostgreSQL."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _null(value: None) -> None:
    return None


def bind_without_adaptation() -> None:
    """Let SQLite's driver bind ``None``, ``bytes`` and ``bool`` parameters without its
    adaptation protocol. It binds only exact ``int``, ``float``, ``str`` and ``bytearray``
    directly; any other value first looks for an adapter, then for ``__adapt__`` on the
    protocol class and ``__conform__`` on the value, and the missing class attribute raises
    and formats an ``AttributeError`` each time (~0.2 µs a value: the request log's rows hold
    a dozen ``None``s). Registered identity adapters end that search at its first step; the
    values bind exactly as before (NULL, BLOB, 0/1). The registry is the driver's, process-wide;
    registering again is harmless."""
    sqlite3.register_adapter(type(None), _null)
    sqlite3.register_adapter(bytes, bytes)
    sqlite3.register_adapter(bool, int)


def _sqlite_engine(url: str) -> Engine:
    bind_without_adaptation()
    path = url.split("///", 1)[1] if "///" in url else ""
    on_disk = bool(path) and path != ":memory:"
    if on_disk:
        Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
    # Pooled connections: closing the last SQLite connection checkpoints the WAL (~15 ms).
    # Last in, first out, with room for 256 prepared statements each: the writers' multi-row
    # inserts (store/bulk_insert.py) cost ~6 µs per row of the statement to prepare, so the
    # connection that just wrote a batch (its statements cached) takes the next one.
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30, "cached_statements": 256},
        pool_size=4,
        max_overflow=4,
        pool_use_lifo=True,
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
    )

    opened = [False]

    @event.listens_for(engine, "do_connect")
    def _on_do_connect(dialect: Any, record: Any, cargs: list[Any], cparams: dict[str, Any]) -> None:
        # Once the database exists, a missing file is an outage (SQLITE_CANTOPEN): without
        # mode=rw SQLite would create an empty file in its place and every query would fail
        # with "no such table", which reads as a bug.
        if on_disk and opened[0]:
            cargs[:] = [f"file:{quote(str(Path(path).expanduser().absolute()))}?mode=rw"]
            cparams["uri"] = True

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        # WAL lets readers (console, CLI) run while the request-log writer commits.
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
        if on_disk:
            record.info["inode"] = os.stat(path).st_ino
            opened[0] = True

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        # A pooled connection to a file that was moved or deleted would write into an
        # unlinked inode and lose the data: treat it as a dead connection instead.
        if not on_disk:
            return
        try:
            same = os.stat(path).st_ino == record.info.get("inode")
        except OSError:
            same = False
        if not same:
            raise DisconnectionError("the SQLite database file was moved or removed")

    return engine


def create_store_engine(url: str) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    return create_engine(
        url,
        pool_size=5,
        max_overflow=5,
        pool_pre_ping=True,
        pool_recycle=300,
        connect_args={"connect_timeout": 3},
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
    )


_REQUEST_COLUMNS = tuple(c.name for c in requests.columns)


def _row_to_record(row: Any) -> RequestRecord:
    data = dict(row._mapping)
    return RequestRecord.from_dict(data)


_JSON_COLUMNS = frozenset(c.name for c in requests.columns if c.type.__class__.__name__ == "JSON")


def _record_to_params(record: RequestRecord) -> tuple[Any, ...]:
    params = []
    for name in _REQUEST_COLUMNS:
        value = getattr(record, name)
        if name == "attempts":
            value = _json_dumps([asdict_attempt(a) for a in value])
        elif name in _JSON_COLUMNS:
            value = _json_dumps(value)
        params.append(value)
    return tuple(params)


class SqlStore:
    """``Store`` over SQLAlchemy; see ``base.Store`` for the contract."""

    def __init__(self, url: str, *, engine: Engine | None = None) -> None:
        self.url = url
        self._engine = engine or create_store_engine(url)
        self.database = Database(self._engine)
        self.erased_dropped = 0  # request records refused because their subject was erased after they were made
        self._counting = threading.Lock()  # writes run in several worker threads
        self._insert_requests = self.database.bulk_insert(requests)

    def migrate(self) -> None:
        with translate_errors("migrate the store"):
            migrate.upgrade(self._engine)

    def ping(self) -> None:
        with self.database.connect("reach the store") as connection:
            connection.exec_driver_sql("SELECT 1")

    def write_requests(self, records: Sequence[RequestRecord]) -> int:
        if not records:
            return 0
        # The request log's bulk path goes straight to the driver (``BulkInsert``): SQLAlchemy's
        # per-row bind processing cost ~10x more than the insert itself.
        rows = [_record_to_params(r) for r in records]
        with self.database.transaction("write request records") as connection:
            # Records of a subject erased since they were made (spilled, replayed, or from another
            # worker's buffer) must not come back: ``tombstones`` says which, under its lock.
            erased = tombstones.erased_positions(connection, records)
            if erased:
                rows = [row for position, row in enumerate(rows) if position not in erased]
            written = self._insert_requests.execute(connection, rows)
        if erased:
            with self._counting:
                self.erased_dropped += len(erased)
                total = self.erased_dropped
            log.warning(
                "request log: dropped %d record(s) of erased data subjects, made before their erasure "
                "(%d dropped since start)", len(erased), total,
            )
        return written

    def get_request(self, request_id: str) -> RequestRecord | None:
        with self.database.connect("read request records") as connection:
            row = connection.execute(select(requests).where(requests.c.request_id == request_id)).first()
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
        with self.database.connect("read request records") as connection:
            return [_row_to_record(row) for row in connection.execute(statement)]

    def close(self) -> None:
        self._engine.dispose()


def open_store(url: str) -> SqlStore:
    return SqlStore(url)
