"""The store interface: durable records of requests, and the ``Database`` parts build on.

One implementation, ``sql.py``, serves both deployment shapes through SQLAlchemy: SQLite
embedded, PostgreSQL scaled out. Methods are synchronous and are called from worker
threads (``asyncio.to_thread``) so the event loop never waits on the database.

Every other part reaches its own tables through a repository (a ``SqlRepository``
subclass in the part) built on ``Store.database``; none touches the engine or asks
which database it talks to.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from headway.store.database import Database
from headway.types import RequestRecord


@dataclass(frozen=True, slots=True)
class RequestQuery:
    limit: int = 50
    model: str | None = None
    caller: str | None = None
    team: str | None = None
    since: float | None = None
    status: str | None = None  # "ok" (2xx) | "error" (non-2xx)


class Store(Protocol):
    url: str
    erased_dropped: int  # request records refused since start: their subject was erased after they were made

    @property
    def database(self) -> Database:
        """Translated connections and portable statements: what part repositories are built on."""

    def migrate(self) -> None:
        """Bring the schema to the newest revision (idempotent, safe for concurrent replicas)."""

    def ping(self) -> None:
        """Raise ``StoreUnavailableError`` when the store cannot be reached."""

    def write_requests(self, records: Sequence[RequestRecord]) -> int:
        """Insert records; returns how many were inserted.

        A record whose id already exists is skipped (replays are idempotent), and so is a record
        of a data subject erased at or after the record's ``created_at`` (``store/tombstones.py``).
        """

    def get_request(self, request_id: str) -> RequestRecord | None: ...

    def list_requests(self, query: RequestQuery) -> list[RequestRecord]: ...

    def close(self) -> None: ...
