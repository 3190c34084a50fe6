"""The request log: records leave the hot path through a bounded buffer and reach the store in batches.

Guarantees
- ``record()`` never blocks and never touches the disk in the normal case.
- A background task flushes batches to the store in a worker thread.
- When the store is unavailable, batches are appended to a local spill journal (JSONL,
  fsynced) and replayed, idempotently, when the store answers again — and at the next
  start if the process died meanwhile.
- If the in-memory buffer ever fills (a store outage longer than the buffer), records go
  straight to the spill journal; this is logged loudly and reported by ``health()``.
What can still be lost: records of the last ``flush_interval`` before a SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson

from headway.errors import StoreUnavailableError
from headway.store.base import Store
from headway.types import RequestRecord

log = logging.getLogger("headway.request_log")


@dataclass(slots=True)
class RequestLogHealth:
    buffered: int
    capacity: int
    spilled_pending: int
    store_ok: bool
    overflowed: int
    last_error: str | None


class RequestLog:
    def __init__(
        self,
        store: Store,
        *,
        capacity: int = 50_000,
        batch_size: int = 500,
        flush_interval: float = 0.2,
        spill_dir: str | Path = ".headway/spill",
    ) -> None:
        self._store = store
        self._buffer: deque[RequestRecord] = deque()
        self._capacity = capacity
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._spill_dir = Path(spill_dir)
        self._spill_file = self._spill_dir / f"requests-{os.getpid()}-{int(time.time() * 1000)}.jsonl"
        self._spilled_pending = 0
        self._overflowed = 0
        self._store_ok = True
        self._last_error: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        # Held while a batch is between the buffer and the store, so flush() can wait for it.
        self._draining = asyncio.Lock()
        self._closing = False
        # Serialises journal appends against a replay claiming the same file.
        self._spill_lock = threading.Lock()
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
        if len(self._buffer) >= self._capacity:
            self._overflowed += 1
            if self._overflowed == 1 or self._overflowed % 1000 == 0:
                log.error(
                    "request log buffer full (%d records); spilling to %s", self._capacity, self._spill_dir,
                    extra={"overflowed": self._overflowed},
                )
            self._spill([record])
            return
        self._buffer.append(record)
        if len(self._buffer) >= self._batch_size:
            self._wake.set()

    # -- lifecycle --------------------------------------------------------------------
    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="headway-request-log")

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        # Whatever the store would not take goes to the journal for the next start.
        await self.flush()

    async def flush(self) -> None:
        """Write everything buffered so far, including a batch already on its way (tests and shutdown)."""
        await self._drain()

    async def _drain(self) -> None:
        async with self._draining:
            while self._buffer:
                await self._write_or_spill(self._take(self._batch_size))

    def health(self) -> RequestLogHealth:
        return RequestLogHealth(
            buffered=len(self._buffer),
            capacity=self._capacity,
            spilled_pending=self._spilled_pending,
            store_ok=self._store_ok,
            overflowed=self._overflowed,
            last_error=self._last_error,
        )

    # -- background -------------------------------------------------------------------
    async def _run(self) -> None:
        await asyncio.to_thread(self._count_pending_spill)
        next_replay = 0.0
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._flush_interval):
                    await self._wake.wait()
            self._wake.clear()
            if not self._closing:
                await self._drain()
            now = time.monotonic()
            if self._spilled_pending and now >= next_replay:
                await asyncio.to_thread(self._replay_spill)
                next_replay = now + (0 if self._store_ok else 1.0)

    def _take(self, n: int) -> list[RequestRecord]:
        batch: list[RequestRecord] = []
        while self._buffer and len(batch) < n:
            batch.append(self._buffer.popleft())
        return batch

    async def _write_or_spill(self, batch: list[RequestRecord]) -> None:
        if not batch:
            return
        try:
            await asyncio.to_thread(self._store.write_requests, batch)
        except StoreUnavailableError as exc:
            if self._store_ok:
                log.warning("store unavailable; spilling request records to %s: %s", self._spill_dir, exc)
            self._store_ok = False
            self._last_error = str(exc)
            await asyncio.to_thread(self._spill, batch)
        else:
            if not self._store_ok:
                log.info("store reachable again; replaying spilled request records")
            self._store_ok = True

    # -- spill journal (runs in worker threads) ---------------------------------------------
    def _spill(self, batch: list[RequestRecord]) -> None:
        self._spill_dir.mkdir(parents=True, exist_ok=True)
        data = b"".join(orjson.dumps(r.to_dict()) + b"\n" for r in batch)
        with self._spill_lock, open(self._spill_file, "ab") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
            self._spilled_pending += len(batch)

    def _count_pending_spill(self) -> None:
        if not self._spill_dir.exists():
            return
        # A replay interrupted by a crash leaves a claimed file behind: return it to the pool.
        for path in self._spill_dir.glob("requests-*.replaying-*"):
            owner = path.suffix.rsplit("-", 1)[-1]
            if not (owner.isdigit() and _process_alive(int(owner))):
                path.rename(path.with_suffix(".jsonl"))
        for path in self._spill_dir.glob("requests-*.jsonl"):
            with open(path, "rb") as handle:
                self._spilled_pending += sum(1 for _ in handle)

    def _replay_spill(self) -> None:
        if not self._spill_dir.exists():
            self._spilled_pending = 0
            return
        for path in sorted(self._spill_dir.glob("requests-*.jsonl")):
            # Claim the file by renaming it, so two processes never replay the same journal.
            claimed = path.with_suffix(f".replaying-{os.getpid()}")
            try:
                with self._spill_lock:
                    path.rename(claimed)
            except FileNotFoundError:
                continue
            records = [RequestRecord.from_dict(orjson.loads(line)) for line in claimed.read_bytes().splitlines() if line]
            try:
                for start in range(0, len(records), self._batch_size):
                    self._store.write_requests(records[start : start + self._batch_size])
            except StoreUnavailableError as exc:
                claimed.rename(path)
                self._store_ok = False
                self._last_error = str(exc)
                return
            claimed.unlink()
            self._spilled_pending = max(0, self._spilled_pending - len(records))
        self._store_ok = True


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
