"""Run one claimed batch: its pending lines through the batch throttle, then its output and error files.

Lines are read in file order in chunks and started as the throttle allows; each answered
line commits on its own (``BatchStore.commit``), so progress is visible at once and a
batch reclaimed after a crash goes on with the lines still pending. A run stops early
when the batch is cancelled, when its completion window ends (both write their files
with what was answered), or when its worker loses the lease or shuts down (no files:
the next worker carries on).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from headway.config import BatchConfig
from headway.errors import StoreUnavailableError
from headway.jobs import outputs
from headway.jobs.batch_store import BatchStore
from headway.jobs.batch_throttle import BatchThrottle
from headway.jobs.execute import Answer, Execute, new_request_id
from headway.jobs.file_store import FileStore
from headway.jobs.models import Batch, FileObject, ItemResult, PendingItem
from headway.jobs.principal import decode_context

log = logging.getLogger("headway.jobs")
T = TypeVar("T")

CHUNK = 200  # lines read from the store at a time
_RETRY_BASE_S = 0.5
_RETRY_MAX_S = 30.0
# Why a run ends before its lines do: the first two still write the batch's files.
CANCELLED, EXPIRED, LOST, SHUTDOWN = "cancelled", "expired", "lost", "shutdown"


def output_file_id(batch_id: str) -> str:
    return "file-" + batch_id.removeprefix("batch_") + "-output"


def error_file_id(batch_id: str) -> str:
    return "file-" + batch_id.removeprefix("batch_") + "-errors"


class BatchRun:
    def __init__(
        self,
        execute: Execute,
        batch: Batch,
        *,
        owner: str,
        store: BatchStore,
        files: FileStore,
        throttle: BatchThrottle,
        config: BatchConfig,
        retention_s: float,
        on_done: Callable[[str], None],
    ) -> None:
        self.execute = execute
        self.batch = batch
        self.owner = owner
        self.store = store
        self.files = files
        self.throttle = throttle
        self.config = config
        self.retention_s = retention_s
        self.on_done = on_done
        self.stop_reason: str | None = None
        self._lines: set[asyncio.Task[None]] = set()
        self._calls: set[asyncio.Task[Any]] = set()  # requests (and retry pauses) of lines in flight

    def stop(self, reason: str) -> None:
        """End the run early: requests in flight are cancelled (their lines stay pending);
        a line whose answer is already in still commits, so the files agree with the counts."""
        if self.stop_reason is None:
            self.stop_reason = reason
        for call in list(self._calls):
            call.cancel()

    async def run(self) -> None:
        batch = self.batch
        if batch.status == "cancelling":
            self.stop_reason = CANCELLED
        elif time.time() >= batch.expires_at and batch.status != "finalizing":
            self.stop_reason = EXPIRED
        elif batch.status in ("validating", "in_progress"):
            await asyncio.to_thread(self.store.start, batch.id, self.owner)
            timer = asyncio.get_running_loop().call_later(max(0.0, batch.expires_at - time.time()), self.stop, EXPIRED)
            try:
                await self._run_lines()
            finally:
                timer.cancel()
        if self.stop_reason in (LOST, SHUTDOWN):
            return
        final = {CANCELLED: "cancelled", EXPIRED: "expired"}.get(self.stop_reason or "", "completed")
        await asyncio.to_thread(self._finalize, final)
        self.on_done(batch.id)

    async def _run_lines(self) -> None:
        after = 0
        try:
            while self.stop_reason is None:
                items = await asyncio.to_thread(self.store.pending, self.batch.id, after_line=after, limit=CHUNK)
                if not items:
                    break
                for item in items:
                    if not await self.throttle.acquire(lambda: self.stop_reason is not None):
                        break
                    task = asyncio.create_task(self._line(item))
                    self._lines.add(task)
                    task.add_done_callback(self._line_done)
                    after = item.line
        finally:
            if self._lines:
                await asyncio.gather(*self._lines, return_exceptions=True)

    def _line_done(self, task: asyncio.Task[None]) -> None:
        self._lines.discard(task)
        self.throttle.release()
        if not task.cancelled() and task.exception() is not None:
            # Never finish a batch around a line that failed unexpectedly: stop, keep the lease
            # until it runs out, and let a later claim (counted, bounded) try again.
            log.error("batch %s: line failed unexpectedly: %r", self.batch.id, task.exception())
            self.stop(LOST)

    async def _unless_stopped(self, work: Coroutine[Any, Any, T]) -> T | None:
        """``work``'s result, or ``None`` when the run stops first (``stop`` cancels it)."""
        call = asyncio.create_task(work)
        self._calls.add(call)
        try:
            return await call
        except asyncio.CancelledError:
            if call.cancelled() and self.stop_reason is not None:
                return None
            raise
        finally:
            self._calls.discard(call)

    async def _answer(self, item: PendingItem) -> Answer | None:
        """The line's final answer; ``None`` when the run stops first.

        A line that is shed or rate limited (a retryable 429/503: the caller's own limits, a
        full deployment queue, every deployment rate limited upstream) is not failed: the
        capacity belongs to someone else now, so it waits and tries again until the batch
        stops (its completion window ends, or it is cancelled)."""
        batch = self.batch
        attempt = 0
        while True:
            ctx = decode_context(batch.principal, request_id=new_request_id(), origin="batch", priority="batch")
            answer = await self._unless_stopped(self.execute(ctx, batch.endpoint, item.body))
            if answer is None or not answer.retryable:
                return answer
            pause = max(answer.retry_after_s or 0.0, min(_RETRY_MAX_S, _RETRY_BASE_S * 2**attempt))
            attempt += 1
            if await self._unless_stopped(asyncio.sleep(pause, True)) is None:
                return None

    async def _line(self, item: PendingItem) -> None:
        batch = self.batch
        answer = await self._answer(item)
        if answer is None:
            return  # stopped: the line stays pending
        line = outputs.answered(item.item_id, item.custom_id, answer.status_code, answer.request_id, answer.body)
        result = ItemResult(
            item.line,
            answer.ok,
            line,
            cost_usd=answer.cost_usd,
            input_tokens=answer.input_tokens,
            output_tokens=answer.output_tokens,
            cached_tokens=answer.cached_tokens,
            reasoning_tokens=answer.reasoning_tokens,
        )
        try:
            await asyncio.to_thread(self.store.commit, batch.id, result)
        except StoreUnavailableError:
            # The line stays pending; this run stops and the batch is picked up again later.
            log.exception("batch %s: cannot commit line %d", batch.id, item.line)
            self.stop(LOST)

    # -- the files ----------------------------------------------------------------------
    def _finalize(self, final: str) -> None:
        batch, now = self.batch, time.time()
        if final == "completed":
            self.store.set_status(batch.id, self.owner, "finalizing", finalizing_at=now)
        code, message = {
            "expired": ("batch_expired", outputs.EXPIRED_MESSAGE),
            "cancelled": ("batch_cancelled", outputs.CANCELLED_MESSAGE),
        }.get(final, ("not_run", "This request was not executed."))
        answered, failed = [], []
        for _line, item_id, custom_id, status, output in self.store.lines(batch.id):
            if status == "pending" or output is None:
                failed.append(outputs.not_run(item_id, custom_id, code, message))
            elif outputs.goes_to_output(output):
                answered.append(output)
            else:
                failed.append(output)
        output_id = self._write(output_file_id(batch.id), "batch_output.jsonl", answered)
        error_id = self._write(error_file_id(batch.id), "batch_errors.jsonl", failed)
        stamp = {"completed": "completed_at", "expired": "expired_at", "cancelled": "cancelled_at"}[final]
        self.store.set_status(
            batch.id,
            self.owner,
            final,
            output_file_id=output_id,
            error_file_id=error_id,
            lease_owner=None,
            lease_until=None,
            **{stamp: time.time()},
        )

    def _write(self, file_id: str, filename: str, lines: list[dict[str, object]]) -> str | None:
        if not lines:
            return None
        content = outputs.render(lines)
        now = time.time()
        batch = self.batch
        self.files.put(
            FileObject(file_id, "batch_output", filename, len(content), batch.caller, batch.team, now, now + self.retention_s),
            content,
        )
        return file_id
