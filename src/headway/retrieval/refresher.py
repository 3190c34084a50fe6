"""Keeping a per-collection, in-process index current off the request path.

The ANN and lexical indexes are both rebuilt or caught up by a refresh that may take
seconds; readers must never wait on it, concurrent readers must share one, and two
refreshes of one collection must never run at once. ``CollectionRefresher`` is that rule,
once: ``in_background`` starts at most one thread per collection, ``now`` refreshes in
the caller's thread, one at a time per collection. ``replica_file`` is the other rule both
share: where a replica keeps a collection's index file.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from headway.store import Database

log = logging.getLogger("headway.retrieval")

T = TypeVar("T")


def replica_file(directory: Path | None, database: Database, collection: str, suffix: str) -> Path | None:
    """Where this replica keeps its ``suffix`` file of ``collection`` (None: no folder, not kept).

    Named by the store (another store's collection of the same name never matches) and by the
    collection, with the suffix appended: a dotted name keeps its whole self."""
    if directory is None:
        return None
    store = hashlib.sha256(database.identity.encode()).hexdigest()[:12]
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in collection)
    return directory / f"{store}-{safe}{suffix}"


class CollectionRefresher(Generic[T]):
    def __init__(self, kind: str, refresh: Callable[[str], T | None]) -> None:
        self.kind = kind  # names the threads and the log line: "ann", "lexical"
        self._refresh = refresh
        self._guard = threading.Lock()
        self._running: dict[str, threading.Thread] = {}
        self._locks: dict[str, threading.Lock] = {}

    def in_background(self, collection: str) -> None:
        with self._guard:
            running = self._running.get(collection)
            if running is not None and running.is_alive():
                return  # concurrent readers share one refresh
            thread = threading.Thread(
                target=self._logged, args=(collection,), name=f"headway-{self.kind}-{collection}", daemon=True
            )
            self._running[collection] = thread
            thread.start()

    def now(self, collection: str) -> T | None:
        """Refresh in this thread (blocking; one at a time per collection)."""
        with self._guard:
            lock = self._locks.setdefault(collection, threading.Lock())
        with lock:
            return self._refresh(collection)

    def _logged(self, collection: str) -> None:
        try:
            self.now(collection)
        except Exception:
            log.exception("%s index refresh failed", self.kind, extra={"collection": collection})
