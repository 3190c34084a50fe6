"""``runtime.audit``: append audit events from anywhere without waiting on the store.

``append(event)`` only buffers; a background task writes batches to the chain. Admin
handlers that must not answer before the record is durable ``await write(event)``.
If the store is down, events wait in the buffer and are written when it answers.

The buffer is bounded. Denied requests are the one kind an attacker can produce at will,
so when the buffer is full *they* are dropped (and counted, and the count itself is
audited once there is room); every other event is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque

from headway.auth.audit import AuditEvent, AuditLog
from headway.errors import StoreUnavailableError
from headway.guards.pii import Redactor

log = logging.getLogger("headway.audit")

DROPPABLE = frozenset({"request.denied"})


class AuditTrail:
    def __init__(
        self,
        log_: AuditLog | None,
        *,
        redactor: Redactor | None = None,
        capacity: int = 10_000,
        flush_interval: float = 0.2,
    ) -> None:
        self.log = log_
        self._redactor = redactor
        self._buffer: deque[AuditEvent] = deque()
        self._capacity = capacity
        self._flush_interval = flush_interval
        self._dropped = 0
        self._dropped_reported = 0
        self._wake = asyncio.Event()
        self._write_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.last_error: str | None = None

    @property
    def dropped(self) -> int:
        return self._dropped

    def append(self, event: AuditEvent) -> None:
        if len(self._buffer) >= self._capacity and event.action in DROPPABLE:
            self._dropped += 1
            if self._dropped == 1 or self._dropped % 1000 == 0:
                log.error("audit buffer full: %d denied-request events dropped so far", self._dropped)
            return
        if self._redactor is not None and event.detail:
            event.detail = self._redactor.value(event.detail)
        self._buffer.append(event)
        if len(self._buffer) >= 100:
            self._wake.set()

    async def write(self, event: AuditEvent) -> None:
        """Append and wait until the event is in the store (raises ``StoreUnavailableError`` if it cannot be)."""
        self.append(event)
        await self.flush(raise_errors=True)

    async def flush(self, *, raise_errors: bool = False) -> None:
        async with self._write_lock:
            if self._dropped > self._dropped_reported:
                count, self._dropped_reported = self._dropped - self._dropped_reported, self._dropped
                self._buffer.append(AuditEvent("audit.dropped", "system", outcome="failed", detail={"dropped": count}))
            while self._buffer and self.log is not None:
                batch = list(self._buffer)[:500]
                try:
                    await asyncio.to_thread(self.log.append, batch)
                except StoreUnavailableError as exc:
                    if self.last_error is None:
                        log.warning("audit trail cannot reach the store; %d events wait in memory: %s", len(self._buffer), exc)
                    self.last_error = str(exc)
                    if raise_errors:
                        raise
                    return
                self.last_error = None
                for _ in batch:
                    self._buffer.popleft()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="headway-audit")

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()
        if self._buffer:
            log.error("%d audit events could not be written before shutdown", len(self._buffer))

    async def _run(self) -> None:
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._flush_interval):
                    await self._wake.wait()
            self._wake.clear()
            if self._buffer:
                await self.flush()
