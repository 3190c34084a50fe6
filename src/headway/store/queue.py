"""The one work queue: leases, retries with backoff, dead letter and priorities, on any table.

Background jobs, batches, pipeline runs and webhook deliveries are rows of their own
tables; each table describes its queue columns once (``QueueShape``) and every claim,
renewal, release, retry and dead letter goes through ``WorkQueue``. The semantics are the
same on both stores:

- **Claim.** A row is due when it waits (``status`` in ``waiting``, ``run_after`` passed,
  no live lease) or when its worker's lease lapsed (``status == running``). The highest
  ``priority`` goes first, then the shape's ``order``. On PostgreSQL the candidates are
  read ``FOR UPDATE SKIP LOCKED`` so claimers never queue behind each other; on SQLite
  the database's single writer serialises the claiming ``UPDATE``. Either way the
  ``UPDATE`` repeats the due test, so exactly one worker wins a row; a loser moves on to
  the next candidate.
- **Lease.** The winner writes its name and a lease end; it renews while it works.
  Writes that end the work are fenced by the lease owner, so a worker that lost its
  lease cannot overwrite a newer attempt.
- **Retry and dead letter.** Each claim counts an attempt. A lapsed lease on the last
  attempt dead-letters the row (its worker died every time); a failure is retried after
  ``backoff(attempt)`` or dead-lettered, as the caller decides.

Why in-house rather than procrastinate, pgmq or arq: docs/stack.md ("The work queue").
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, ColumnElement, Connection, Table, and_, func, or_, select, true, update

from headway.store.database import Database, claim

# Rows read per claim: a loser of a race on SQLite tries the next one instead of giving up.
_CANDIDATES = 8


def backoff(attempt: int, *, base_s: float, cap_s: float, jitter: float = 0.0, rng: random.Random | None = None) -> float:
    """Seconds before retry ``attempt`` (1-based): ``base_s * 2**(attempt-1)``, capped, ± ``jitter`` (a fraction)."""
    delay = min(cap_s, base_s * 2 ** max(0, attempt - 1))
    if jitter:
        delay *= 1 + (rng or random).uniform(-jitter, jitter)
    return max(0.0, delay)


@dataclass(frozen=True, slots=True)
class QueueShape:
    """Which columns of ``table`` hold the queue's state."""

    table: Table
    waiting: tuple[str, ...]  # statuses a worker may claim once due
    running: str | None  # the status while claimed (None: a claim leaves the status alone)
    key: str = "id"
    status: str = "status"
    lease_owner: str = "lease_owner"
    lease_until: str = "lease_until"
    attempts: str = "attempts"
    max_attempts: str | int | None = "max_attempts"  # a column, a constant, or no limit
    run_after: str | None = "run_after"
    priority: str | None = None  # higher first
    order: tuple[str, ...] = ()  # then these, ascending
    # Written when a lapsed lease ends the last attempt: ``dead(now, attempts)``.
    dead: Callable[[float, int], Mapping[str, Any]] = field(default=lambda now, attempts: {})

    def column(self, name: str) -> Column[Any]:
        return self.table.c[name]


class WorkQueue:
    def __init__(self, database: Database, shape: QueueShape) -> None:
        self.database = database
        self.shape = shape

    # -- the due test ---------------------------------------------------------------------
    def _free(self, now: float) -> ColumnElement[bool]:
        lease_until = self.shape.column(self.shape.lease_until)
        return or_(lease_until.is_(None), lease_until < now)

    def due(self, now: float) -> ColumnElement[bool]:
        s = self.shape
        status = s.column(s.status)
        waiting: ColumnElement[bool] = and_(status.in_(s.waiting), self._free(now))
        if s.run_after is not None:
            waiting = and_(waiting, s.column(s.run_after) <= now)
        if s.running is None or s.running in s.waiting:
            return waiting
        return or_(waiting, and_(status == s.running, self._free(now)))

    def _last_attempt(self, attempts: int, row: Any) -> bool:
        limit = self.shape.max_attempts
        if limit is None:
            return False
        maximum = limit if isinstance(limit, int) else int(row._mapping[limit])
        return attempts >= maximum

    # -- claiming -------------------------------------------------------------------------
    def claim(
        self,
        owner: str,
        lease_s: float,
        *,
        exclude: Collection[str] = (),
        where: ColumnElement[bool] | None = None,
        values: Mapping[str, Any] | Callable[[float], Mapping[str, Any]] | None = None,
        on_dead: Callable[[Connection, Any], None] | None = None,
        now: float | None = None,
    ) -> dict[str, Any] | None:
        """Take one due row (the whole row, as claimed), or ``None`` when none is due.

        ``exclude``: keys this worker runs already (its lapsed lease must not start them twice);
        ``where``: a further condition (e.g. per-subject order); ``values``: more columns to
        write with the claim; ``on_dead(connection, key)``: runs in the transaction that
        dead-letters a row (e.g. to queue its webhook)."""
        taken = self.claim_many(owner, lease_s, 1, exclude=exclude, where=where, values=values, on_dead=on_dead, now=now)
        return taken[0] if taken else None

    def claim_many(
        self,
        owner: str,
        lease_s: float,
        limit: int,
        *,
        exclude: Collection[str] = (),
        where: ColumnElement[bool] | None = None,
        values: Mapping[str, Any] | Callable[[float], Mapping[str, Any]] | None = None,
        on_dead: Callable[[Connection, Any], None] | None = None,
        now: float | None = None,
    ) -> list[dict[str, Any]]:
        """Take up to ``limit`` due rows in one transaction (``claim``'s semantics, one read for all)."""
        s = self.shape
        now = time.time() if now is None else now
        key = s.column(s.key)
        attempts_col = s.column(s.attempts)
        condition = and_(self.due(now), where if where is not None else true())
        if exclude:
            condition = and_(condition, key.not_in(list(exclude)))
        wanted = [key, attempts_col] + ([s.column(s.max_attempts)] if isinstance(s.max_attempts, str) else [])
        ordering = ([s.column(s.priority).desc()] if s.priority else []) + [s.column(o) for o in s.order] + [key]
        candidates = select(*wanted).where(condition).order_by(*ordering).limit(max(_CANDIDATES, 2 * limit))
        taken: list[dict[str, Any]] = []
        with self.database.transaction(f"claim from {s.table.name}") as connection:
            for row in connection.execute(claim(connection, candidates)).all():
                if len(taken) >= limit:
                    break
                row_key, attempts = row[0], int(row[1] or 0)
                fenced = and_(key == row_key, condition)
                if self._last_attempt(attempts, row):
                    # Its worker died on the last attempt: dead-letter it rather than loop forever.
                    connection.execute(
                        update(s.table).where(fenced).values(
                            {s.lease_owner: None, s.lease_until: None, **s.dead(now, attempts)}
                        )
                    )
                    if on_dead is not None:
                        on_dead(connection, row_key)
                    continue
                written: dict[str, Any] = {s.lease_owner: owner, s.lease_until: now + lease_s, s.attempts: attempts + 1}
                if s.running is not None:
                    written[s.status] = s.running
                if values is not None:
                    written.update(values(now) if callable(values) else values)
                if connection.execute(update(s.table).where(fenced).values(written)).rowcount:
                    fresh = connection.execute(select(s.table).where(key == row_key)).first()
                    if fresh is not None:
                        taken.append(dict(fresh._mapping))
        return taken

    # -- holding ----------------------------------------------------------------------------
    def renew(self, keys: Sequence[str], owner: str, lease_s: float, *, read: Sequence[str] = ()) -> dict[str, dict[str, Any]]:
        """Extend the leases ``owner`` still holds; ``{key: {column: value for read}}`` of those held."""
        if not keys:
            return {}
        s = self.shape
        key, lease_owner = s.column(s.key), s.column(s.lease_owner)
        held = and_(key.in_(list(keys)), lease_owner == owner)
        with self.database.transaction(f"renew leases in {s.table.name}") as connection:
            connection.execute(update(s.table).where(held).values({s.lease_until: time.time() + lease_s}))
            rows = connection.execute(select(key, *(s.column(name) for name in read)).where(held)).all()
        return {row[0]: {name: row[i + 1] for i, name in enumerate(read)} for row in rows}

    def release(self, keys: Sequence[str], owner: str) -> None:
        """Hand leases back (at shutdown) so another worker takes the rows at once."""
        if not keys:
            return
        s = self.shape
        with self.database.transaction(f"release leases in {s.table.name}") as connection:
            connection.execute(
                update(s.table)
                .where(s.column(s.key).in_(list(keys)), s.column(s.lease_owner) == owner)
                .values({s.lease_until: 0.0})
            )

    def settle(
        self,
        row_key: str,
        owner: str,
        values: Mapping[str, Any],
        *,
        keep_lease: bool = False,
        then: Callable[[Connection], None] | None = None,
    ) -> bool:
        """Write the end of an attempt, fenced by the lease owner (and the running status);
        ``then(connection)`` runs in the same transaction when the write took (e.g. queue a webhook)."""
        s = self.shape
        fenced = and_(s.column(s.key) == row_key, s.column(s.lease_owner) == owner)
        if s.running is not None:
            fenced = and_(fenced, s.column(s.status) == s.running)
        written = dict(values)
        if not keep_lease:
            written.update({s.lease_owner: None, s.lease_until: None})
        with self.database.transaction(f"settle a row of {s.table.name}") as connection:
            if not connection.execute(update(s.table).where(fenced).values(written)).rowcount:
                return False
            if then is not None:
                then(connection)
            return True

    def retry(self, row_key: str, owner: str, *, delay_s: float, values: Mapping[str, Any] | None = None) -> bool:
        """Back to waiting, due again in ``delay_s`` (fenced like ``settle``)."""
        s = self.shape
        assert s.run_after is not None, "a queue without run_after cannot delay a retry"
        written = {s.status: s.waiting[0], s.run_after: time.time() + delay_s, **(values or {})}
        return self.settle(row_key, owner, written)

    def waiting_count(self, now: float | None = None) -> int:
        """Rows due or waiting for their time (not claimed), for gauges and tests."""
        s = self.shape
        condition = and_(s.column(s.status).in_(s.waiting), self._free(time.time() if now is None else now))
        with self.database.transaction(f"count {s.table.name}") as connection:
            return int(connection.execute(select(func.count()).select_from(s.table).where(condition)).scalar_one())
