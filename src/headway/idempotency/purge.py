"""Expired keys leave the store: every gateway process deletes them every ``idempotency.purge_interval_s``.

A delete of what has expired is idempotent, so replicas purging at once do no harm. A
failed purge (store down) is logged and tried again on the next tick; it never stops.
"""

from __future__ import annotations

import asyncio
import logging
import time

from headway.config import IdempotencyConfig
from headway.idempotency.sql import SqlIdempotencyStore
from headway.observe import BackgroundTask, every
from headway.store import Database

log = logging.getLogger("headway.idempotency")


class KeyPurge:
    def __init__(self, database: Database, config: IdempotencyConfig) -> None:
        self.store = SqlIdempotencyStore(database)
        self.config = config
        self.purged = 0  # keys this process deleted (a count for tests and logs)
        self._task = BackgroundTask("headway-idempotency-purge")

    def start(self) -> None:
        self._task.start(self._forever)

    async def close(self) -> None:
        await self._task.close()

    async def purge_once(self, now: float | None = None) -> int:
        deleted = await asyncio.to_thread(self.store.purge, time.time() if now is None else now)
        self.purged += deleted
        if deleted:
            log.info("purged %d expired Idempotency-Key entries", deleted)
        return deleted

    async def _forever(self) -> None:
        # Not in the start-up rush, but soon after a restart; a failed tick (an outage, a
        # lock) is logged and the next one comes on time.
        interval = self.config.purge_interval_s
        await every(interval, self.purge_once, name="purging expired Idempotency-Key entries", first_delay=min(60.0, interval))
