"""The request log: every request's record, through the one write-behind writer (``store/writer.py``).

Guarantees
- ``record()`` never waits on the store. It appends the encoded record to this process's
  crash segment (one ``write()``) before it returns, and the serving code records before
  the last byte of the response is sent: a response the client received whole has a
  record on local disk even if the process is SIGKILLed the next instant. A machine
  crash loses at most the records of one ``flush_interval`` (segments are fsynced when
  they rotate).
- A background task writes batches to the store; when the store is unavailable they go
  to the fsynced spill journal and are replayed, idempotently (insert-or-ignore on the
  request id), when it answers again — and at the next start, or by a sibling worker,
  if the process died meanwhile.
- If the in-memory buffer fills (an outage longer than the buffer), records go straight
  to the spill journal; this is logged loudly and reported by ``health()``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import orjson

from headway.store import Store, WriteBehind, WriterHealth, WriterPolicy
from headway.types import RequestRecord

log = logging.getLogger("headway.request_log")


RequestLogHealth = WriterHealth  # buffered, capacity, spilled_pending, store_ok, overflowed, journal_ok, …


class RecordCodec:
    """A record as one JSON line in the crash and spill journals."""

    def encode(self, item: RequestRecord) -> bytes:
        # orjson serialises the dataclass (and its Attempts) natively: the same bytes as
        # ``orjson.dumps(item.to_dict())`` without building the dicts, on every request's hot path.
        return orjson.dumps(item)

    def decode(self, data: bytes) -> RequestRecord:
        return RequestRecord.from_dict(orjson.loads(data))


class RequestLog:
    def __init__(
        self,
        store: Store,
        *,
        capacity: int = 50_000,
        batch_size: int = 500,
        drain_at: int | None = None,
        flush_interval: float = 0.2,
        spill_dir: str | Path = ".headway/spill",
        crash_safe: bool = True,
    ) -> None:
        self._store = store
        policy = WriterPolicy(
            name="requests",
            capacity=capacity,
            batch_size=batch_size,
            drain_at=drain_at,
            flush_interval=flush_interval,
            on_full="spill",
            on_unavailable="spill",
            crash_safe=crash_safe,
            journal_dir=spill_dir,
        )
        self._writer: WriteBehind[RequestRecord] = WriteBehind(store.write_requests, policy, codec=RecordCodec())
        # Called with every record as it is handed over (metrics, traces, log lines): the one fan-out.
        self._observers: list[Callable[[RequestRecord], None]] = []

    def add_observer(self, observer: Callable[[RequestRecord], None]) -> None:
        self._observers.append(observer)

    # -- hot path ---------------------------------------------------------------------
    def record(self, record: RequestRecord) -> None:
        for observer in self._observers:
            try:
                observer(record)
            except Exception:  # observing must never fail the request or lose its record
                log.exception("request record observer failed")
        self._writer.submit(record)

    # -- lifecycle --------------------------------------------------------------------
    async def start(self) -> None:
        await self._writer.start()

    async def close(self) -> None:
        await self._writer.close()

    async def flush(self) -> None:
        """Write everything buffered so far, including a batch already on its way (tests and shutdown)."""
        await self._writer.flush()

    def health(self) -> RequestLogHealth:
        return self._writer.health()
