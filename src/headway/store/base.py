"""The store interface: durable records of requests (and, as parts land, keys, reviews, runs).

One implementation, ``sql.py``, serves both deployment shapes through SQLAlchemy: SQLite
embedded, PostgreSQL scaled out. Methods are synchronous and are called from worker
threads (``asyncio.to_thread``) so the event loop never waits on the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

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

    def migrate(self) -> None:
        """Bring the schema to the newest revision (idempotent, safe for concurrent replicas)."""

    def ping(self) -> None:
        """Raise ``StoreUnavailableError`` when the store cannot be reached."""

    def write_requests(self, records: Sequence[RequestRecord]) -> int:
        """Insert records; a record whose id already exists is skipped (replays are idempotent)."""

    def get_request(self, request_id: str) -> RequestRecord | None: ...

    def list_requests(self, query: RequestQuery) -> list[RequestRecord]: ...

    def close(self) -> None: ...
