"""The write-behind writer: items leave the hot path through a bounded buffer and reach the
store in batches. The request log, the audit trail and the cache persistence are its users.

- ``submit()`` never blocks on the store. A background task drains the buffer in batches
  to a synchronous *sink* run in a worker thread.
- What happens when the store will not take a batch is the user's policy
  (``on_unavailable``): ``spill`` appends it to the fsynced spill journal and replays it,
  idempotently, when the store answers (and at the next start); ``retain`` keeps it at the
  head of the buffer for the next try (order matters: the audit chain); ``drop`` forgets
  it (the cache: an optimisation).
- What happens when the buffer is full (``on_full``): ``spill`` straight to the journal,
  ``keep`` anyway (beyond capacity), ``drop``; items the user marks ``droppable`` are
  dropped first.
- ``crash_safe``: every item is also appended to a crash segment (``journal.py``) before
  ``submit()`` returns — one ``write()``, durable against a process crash (SIGKILL) at
  once and against a machine crash once the segment is fsynced at its rotation, every
  ``flush_interval``. Segments of a dead process are replayed at the next start, or
  within ``recover_interval`` by any live sibling sharing the folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Literal, Protocol, TypeVar

from headway.errors import StoreUnavailableError
from headway.store.journal import Journal, Segment
from headway.tasks import wait_ended

log = logging.getLogger("headway.writer")

T = TypeVar("T")

OnFull = Literal["spill", "keep", "drop"]
OnUnavailable = Literal["spill", "retain", "drop"]


class Codec(Protocol[T]):
    """How items are written to the journal: one line of bytes each (no newline)."""

    def encode(self, item: T) -> bytes: ...

    def decode(self, data: bytes) -> T: ...


@dataclass(frozen=True, slots=True)
class WriterPolicy:
    name: str  # log lines and journal file names
    capacity: int = 10_000
    batch_size: int = 500
    flush_interval: float = 0.2
    # Items buffered that start a drain before the interval ends (None: ``batch_size``). Small,
    # frequent batches keep the writer thread's share of the GIL in short slices: one large
    # batch every interval stalls the event loop for its whole length (the tail under load).
    drain_at: int | None = None
    on_full: OnFull = "drop"
    on_unavailable: OnUnavailable = "drop"
    crash_safe: bool = False
    journal_dir: str | Path | None = None
    recover_interval: float = 10.0  # how often a live writer adopts a dead sibling's files

    def __post_init__(self) -> None:
        needs_journal = self.crash_safe or "spill" in (self.on_full, self.on_unavailable)
        if needs_journal and self.journal_dir is None:
            raise ValueError(f"writer {self.name!r}: spilling and crash safety need a journal_dir")
        if self.crash_safe and self.on_unavailable != "spill":
            raise ValueError(f"writer {self.name!r}: a crash-safe writer must spill when the store is unavailable")


@dataclass(slots=True)
class WriterHealth:
    buffered: int
    capacity: int
    spilled_pending: int
    store_ok: bool
    overflowed: int  # items that met a full buffer
    dropped: int  # items forgotten (buffer full or store unavailable, by policy)
    journal_ok: bool  # False while the local journal cannot be written
    last_error: str | None


class WriteBehind(Generic[T]):
    def __init__(
        self,
        sink: Callable[[Sequence[T]], object],
        policy: WriterPolicy,
        *,
        codec: Codec[T] | None = None,
        droppable: Callable[[T], bool] | None = None,
        before_drain: Callable[[bool], None] | None = None,
    ) -> None:
        self._sink = sink
        self.policy = policy
        self._codec = codec
        self._droppable = droppable
        self._before_drain = before_drain
        self._journal = Journal(policy.journal_dir, policy.name) if policy.journal_dir is not None else None
        if self._journal is not None and codec is None:
            raise ValueError(f"writer {policy.name!r}: a journal needs a codec")
        self._buffer: deque[T] = deque()
        self._drain_at = policy.drain_at or policy.batch_size
        self._segment: Segment | None = None
        self._spilled_pending = 0
        self._overflowed = 0
        self._dropped = 0
        self._journal_errors = 0
        self._store_ok = True
        self._last_error: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        # Held while a batch is between the buffer and the store: flush() waits for it, and a
        # user can hold it so nothing is written meanwhile (the cache's erasure).
        self._draining = asyncio.Lock()
        self._closing = False

    # -- hot path ---------------------------------------------------------------------
    def submit(self, item: T) -> None:
        policy = self.policy
        if len(self._buffer) >= policy.capacity:
            self._overflowed += 1
            if (self._droppable is not None and self._droppable(item)) or policy.on_full == "drop":
                self._dropped += 1
                if self._dropped == 1 or self._dropped % 1000 == 0:
                    log.error("%s: buffer full (%d); %d item(s) dropped so far", policy.name, policy.capacity, self._dropped)
                return
            if policy.on_full == "spill":
                if self._overflowed == 1 or self._overflowed % 1000 == 0:
                    log.error("%s: buffer full (%d); spilling to %s", policy.name, policy.capacity, policy.journal_dir,
                              extra={"overflowed": self._overflowed})
                self._spill([item])
                return
        if self._segment is not None:
            assert self._codec is not None and self._journal is not None
            try:
                self._journal.append(self._segment, self._codec.encode(item) + b"\n")
            except OSError as exc:  # a full or broken disk: keep serving, say so in health
                self._journal_errors += 1
                self._last_error = f"crash journal: {exc}"
                if self._journal_errors == 1 or self._journal_errors % 1000 == 0:
                    log.error("%s: cannot append to the crash journal (%d failures): %s", policy.name, self._journal_errors, exc)
            else:
                self._journal_errors = 0
        self._buffer.append(item)
        if len(self._buffer) >= self._drain_at:
            self._wake.set()

    def exclusive(self) -> asyncio.Lock:
        """``async with writer.exclusive():`` — no batch is on its way to the store meanwhile."""
        return self._draining

    # -- lifecycle --------------------------------------------------------------------
    async def start(self) -> None:
        if self._journal is not None:
            await asyncio.to_thread(self._recover)
            if self.policy.crash_safe:
                self._segment = await asyncio.to_thread(self._journal.open_segment)
        self._task = asyncio.create_task(self._run(), name=f"headway-writer-{self.policy.name}")

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await wait_ended(self._task)
        # Whatever the store would not take goes where the policy says (the journal for the next start).
        await self.flush()
        if self._segment is not None and self._journal is not None:
            segment, self._segment = self._segment, None
            (self._journal.retire if not self._buffer and not segment.unsettled else self._journal.abandon)(segment)

    async def flush(self, *, raise_errors: bool = False) -> None:
        """Write everything buffered so far, including a batch already on its way (tests, shutdown, admin)."""
        await self._drain(everything=True, raise_errors=raise_errors)

    def health(self) -> WriterHealth:
        return WriterHealth(
            buffered=len(self._buffer),
            capacity=self.policy.capacity,
            spilled_pending=self._spilled_pending,
            store_ok=self._store_ok,
            overflowed=self._overflowed,
            dropped=self._dropped,
            journal_ok=self._journal_errors == 0,
            last_error=self._last_error,
        )

    # -- background -------------------------------------------------------------------
    async def _run(self) -> None:
        next_replay, next_recover = 0.0, time.monotonic() + self.policy.recover_interval
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.policy.flush_interval):
                    await self._wake.wait()
            self._wake.clear()
            if self._closing:
                break
            with contextlib.suppress(StoreUnavailableError):
                await self._drain(everything=False, raise_errors=False)
            if self._journal is None:
                continue
            now = time.monotonic()
            try:
                if now >= next_recover:  # a sibling that died (SIGKILL, OOM) left segments: adopt them
                    next_recover = now + self.policy.recover_interval
                    await asyncio.to_thread(self._recover)
                if self._spilled_pending and now >= next_replay:
                    next_replay = now + 1.0
                    await asyncio.to_thread(self._replay)
                    if self._store_ok:
                        next_replay = now
            except Exception:  # a bug, not an outage: say so loudly, keep the files, keep writing
                log.exception("%s: replaying the spill journal failed", self.policy.name)

    async def _drain(self, *, everything: bool, raise_errors: bool) -> None:
        async with self._draining:
            if self._before_drain is not None:
                self._before_drain(everything)  # True: a flush or shutdown, which writes everything
            while self._buffer:
                # Items submitted from here on go to a new segment; the old one goes once its
                # items are in the store or the spill journal.
                retiring = self._rotate(force=everything)
                # The retiring segment is fsynced before its items go to the store, in the same
                # worker-thread hop as the first batch: one hand-off per drain, not two.
                settled = await self._write_items(len(self._buffer), raise_errors=raise_errors, sync_first=retiring)
                if retiring is not None and self._journal is not None:
                    (self._journal.retire if settled and not retiring.unsettled else self._journal.abandon)(retiring)
                elif not settled and self._segment is not None:
                    self._segment.unsettled = True  # a later drain's success must not retire it
                if not settled or not everything:
                    return

    def _rotate(self, *, force: bool) -> Segment | None:
        """Start a new crash segment and hand back the old one, at most once per flush interval
        (``force``: now); between rotations, batches go to the store from the live segment."""
        if self._segment is None or self._segment.items == 0 or self._journal is None:
            return None
        if not force and time.monotonic() - self._segment.opened < self.policy.flush_interval:
            return None
        retiring = self._segment
        try:
            self._segment = self._journal.open_segment()
        except OSError as exc:
            log.error("%s: cannot open a new crash segment, keeping the current one: %s", self.policy.name, exc)
            return None
        return retiring

    def _sync_then_sink(self, segment: Segment | None, batch: list[T]) -> None:
        if segment is not None:
            self._sync(segment)
        self._sink(batch)

    def _sync(self, segment: Segment) -> None:
        assert self._journal is not None
        try:
            self._journal.sync(segment)
        except OSError as exc:
            log.error("%s: cannot fsync the crash segment %s: %s", self.policy.name, segment.path, exc)

    async def _write_items(self, count: int, *, raise_errors: bool, sync_first: Segment | None = None) -> bool:
        """Write the first ``count`` buffered items; False if some are neither stored nor spilled.

        ``sync_first``: a segment to fsync before the first batch is written (same thread hop)."""
        if sync_first is not None and not (count > 0 and self._buffer):
            await asyncio.to_thread(self._sync, sync_first)
        while count > 0 and self._buffer:
            batch = [self._buffer.popleft() for _ in range(min(count, self.policy.batch_size, len(self._buffer)))]
            count -= len(batch)
            segment, sync_first = sync_first, None
            try:
                await asyncio.to_thread(self._sync_then_sink, segment, batch)
            except StoreUnavailableError as exc:
                if self._store_ok:
                    log.warning("%s: store unavailable (%s); %s", self.policy.name, exc, self._outage_words())
                self._store_ok = False
                self._last_error = str(exc)
                if self.policy.on_unavailable == "spill":
                    if not await asyncio.to_thread(self._spill, batch):
                        return False
                elif self.policy.on_unavailable == "retain":
                    self._buffer.extendleft(reversed(batch))
                    if raise_errors:
                        raise
                    return False
                else:
                    self._dropped += len(batch)
                if raise_errors:
                    raise
            except Exception as exc:  # a bug in the sink, not an outage: keep the items if the policy can
                log.exception("%s: writing a batch of %d failed", self.policy.name, len(batch))
                self._last_error = f"{exc.__class__.__name__}: {exc}"
                if self.policy.on_unavailable == "spill":
                    if not await asyncio.to_thread(self._spill, batch):
                        return False
                else:
                    self._dropped += len(batch)
                if raise_errors:
                    raise
            else:
                if not self._store_ok:
                    log.info("%s: store reachable again", self.policy.name)
                self._store_ok = True
                self._last_error = None
        return True

    def _outage_words(self) -> str:
        return {
            "spill": f"spilling to {self.policy.journal_dir}",
            "retain": f"{len(self._buffer)} item(s) wait in memory",
            "drop": "dropping batches until it answers",
        }[self.policy.on_unavailable]

    # -- journal (worker threads) -------------------------------------------------------
    def _spill(self, batch: Sequence[T]) -> bool:
        assert self._journal is not None and self._codec is not None
        data = b"".join(self._codec.encode(item) + b"\n" for item in batch)
        try:
            self._journal.spill(data)
        except OSError as exc:
            log.error("%s: cannot write %d item(s) to the spill journal: %s", self.policy.name, len(batch), exc)
            self._last_error = f"spill journal: {exc}"
            return False
        self._spilled_pending += len(batch)
        return True

    def _recover(self) -> None:
        assert self._journal is not None
        try:
            self._journal.recover()
            self._spilled_pending = self._journal.pending()
        except OSError as exc:
            log.error("%s: cannot recover journal files in %s: %s", self.policy.name, self.policy.journal_dir, exc)

    def _replay(self) -> None:
        assert self._journal is not None and self._codec is not None
        for claim in self._journal.claims():
            items: list[T] = []
            for line in claim.lines():
                try:
                    items.append(self._codec.decode(line))
                except Exception as exc:  # a torn last line after a machine crash: the rest still counts
                    log.error("%s: skipping an unreadable journal line in %s: %s", self.policy.name, claim.home.name, exc)
            try:
                for start in range(0, len(items), self.policy.batch_size):
                    self._sink(items[start : start + self.policy.batch_size])
            except StoreUnavailableError as exc:
                claim.release()
                self._store_ok = False
                self._last_error = str(exc)
                break
            claim.done()
            self._store_ok = True
        self._spilled_pending = self._journal.pending()
