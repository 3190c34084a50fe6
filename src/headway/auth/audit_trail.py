"""``runtime.audit``: append audit events from anywhere without waiting on the store.

``append(event)`` only buffers; a background task writes batches to the chain. Admin
handlers that must not answer before the record is durable ``await write(event)``.
If the store is down, events wait in the buffer and are written when it answers.

The buffer is bounded. Denied requests are the one kind an attacker can produce at will,
so when the buffer is full *they* are dropped (and counted, and the count itself is
audited once there is room); every other event is kept.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from headway.auth.audit import AuditEvent, AuditLog
from headway.guards import Redactor
from headway.store import WriteBehind, WriterPolicy

log = logging.getLogger("headway.audit")

DROPPABLE = frozenset({"request.denied"})


class AuditTrail:
    """The audit trail's use of the one write-behind writer: keep order, retain through outages."""

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
        self._dropped_reported = 0
        policy = WriterPolicy(
            name="audit",
            capacity=capacity,
            batch_size=500,
            flush_interval=flush_interval,
            on_full="keep",  # only denied requests are dropped when full (``droppable``)
            on_unavailable="retain",  # the chain is built in order at write time: events wait, in order
        )
        self._writer: WriteBehind[AuditEvent] = WriteBehind(
            self._append, policy, droppable=lambda event: event.action in DROPPABLE, before_drain=self._report_dropped
        )

    @property
    def dropped(self) -> int:
        return self._writer.health().dropped

    @property
    def last_error(self) -> str | None:
        return self._writer.health().last_error

    def append(self, event: AuditEvent) -> None:
        if self._redactor is not None and event.detail:
            event.detail = self._redactor.value(event.detail)
        self._writer.submit(event)

    async def write(self, event: AuditEvent) -> None:
        """Append and wait until the event is in the store (raises ``StoreUnavailableError`` if it cannot be)."""
        self.append(event)
        await self.flush(raise_errors=True)

    async def flush(self, *, raise_errors: bool = False) -> None:
        await self._writer.flush(raise_errors=raise_errors)

    async def start(self) -> None:
        await self._writer.start()

    async def close(self) -> None:
        await self._writer.close()
        buffered = self._writer.health().buffered
        if buffered:
            log.error("%d audit events could not be written before shutdown", buffered)

    def _append(self, events: Sequence[AuditEvent]) -> None:
        if self.log is not None:  # without a store there is no trail to extend
            self.log.append(events)

    def _report_dropped(self, everything: bool) -> None:
        """Before every drain, periodic or a flush (``everything``) alike: dropped denied-request
        events are counted, and the count itself is audited once there is room."""
        dropped = self.dropped
        if dropped > self._dropped_reported:
            count, self._dropped_reported = dropped - self._dropped_reported, dropped
            self._writer.submit(AuditEvent("audit.dropped", "system", outcome="failed", detail={"dropped": count}))
