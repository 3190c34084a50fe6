"""Pipelines' durable state, a repository on the store's ``Database``: runs, accepted
state, record hashes, quarantine, the run lock and schedule-slot claims.

Synchronous, like the store; async code calls it through ``asyncio.to_thread``. An outage
surfaces as ``StoreUnavailableError`` (the store's one translation); a bug surfaces as itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from headway.pipelines.tables import (
    pipeline_quarantine,
    pipeline_records,
    pipeline_runs,
    pipeline_slots,
    pipeline_state,
)
from headway.store import SqlRepository

T = TypeVar("T")
_BATCH = 500


@dataclass(slots=True)
class RunRecord:
    run_id: str
    pipeline: str
    status: str = "running"
    trigger: str = "manual"
    attempt: int = 1
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    duration_ms: float | None = None
    counts: dict[str, int] = field(default_factory=dict)
    schema_diff: dict[str, Any] = field(default_factory=dict)
    checks: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    index_version: int | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class PipelineState:
    schema: dict[str, Any] = field(default_factory=dict)
    cursor: Any = None
    last_good_run: str | None = None
    last_good_at: float | None = None


@dataclass(slots=True)
class QuarantinedRow:
    id: int
    pipeline: str
    run_id: str
    record_key: str | None
    row_number: int | None
    reasons: list[dict[str, str]]
    row: dict[str, Any]
    created_at: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class PipelineRepository(SqlRepository):
    def _read(self, work: Callable[[Connection], T]) -> T:
        with self.reading("read pipeline state") as connection:
            return work(connection)

    def _write(self, work: Callable[[Connection], T]) -> T:
        with self.transaction("write pipeline state") as connection:
            return work(connection)

    # --- state and lock -------------------------------------------------------------------

    def state(self, pipeline: str) -> PipelineState:
        def read(connection: Connection) -> PipelineState:
            row = connection.execute(
                select(pipeline_state).where(pipeline_state.c.pipeline == pipeline)
            ).first()
            if row is None:
                return PipelineState()
            return PipelineState(row.schema or {}, row.cursor, row.last_good_run, row.last_good_at)

        return self._read(read)

    def acquire_lock(self, pipeline: str, owner: str, ttl_s: float) -> bool:
        """Take the pipeline's run lock unless another live run holds it."""

        def take(connection: Connection) -> bool:
            now = time.time()
            connection.execute(
                self.database.insert_ignoring_conflicts(pipeline_state).values(pipeline=pipeline, schema={})
            )
            c = pipeline_state.c
            result = connection.execute(
                update(pipeline_state)
                .where(
                    c.pipeline == pipeline,
                    (c.lock_owner.is_(None)) | (c.lock_until < now) | (c.lock_owner == owner),
                )
                .values(lock_owner=owner, lock_until=now + ttl_s)
            )
            return bool(result.rowcount)

        return self._write(take)

    def release_lock(self, pipeline: str, owner: str) -> None:
        c = pipeline_state.c
        self._write(
            lambda connection: connection.execute(
                update(pipeline_state)
                .where(c.pipeline == pipeline, c.lock_owner == owner)
                .values(lock_owner=None, lock_until=None)
            )
        )

    def record_hashes(self, pipeline: str) -> dict[str, str]:
        c = pipeline_records.c
        return self._read(
            lambda connection: {
                key: value
                for key, value in connection.execute(
                    select(c.record_key, c.content_hash).where(c.pipeline == pipeline)
                )
            }
        )

    def commit_accepted(
        self,
        connection: Connection,
        pipeline: str,
        *,
        upserts: Mapping[str, str],
        deletes: Iterable[str],
        schema: dict[str, Any],
        cursor: Any,
        run_id: str,
    ) -> None:
        """Record what a successful run accepted; called inside the publishing transaction."""
        now = time.time()
        c = pipeline_records.c
        keys = list(deletes)
        for start in range(0, len(keys), _BATCH):
            connection.execute(
                delete(pipeline_records).where(
                    c.pipeline == pipeline, c.record_key.in_(keys[start : start + _BATCH])
                )
            )
        rows = [
            {"pipeline": pipeline, "record_key": k, "content_hash": h, "updated_at": now}
            for k, h in upserts.items()
        ]
        statement = self.database.upsert(
            pipeline_records, key=["pipeline", "record_key"], update=["content_hash", "updated_at"]
        )
        for start in range(0, len(rows), _BATCH):
            connection.execute(statement, rows[start : start + _BATCH])
        connection.execute(
            update(pipeline_state)
            .where(pipeline_state.c.pipeline == pipeline)
            .values(schema=schema, cursor=cursor, last_good_run=run_id, last_good_at=now)
        )

    # --- runs -------------------------------------------------------------------------------

    def start_run(self, run: RunRecord) -> None:
        self._write(lambda connection: connection.execute(insert(pipeline_runs).values(**run.to_json())))

    def finish_run(self, run: RunRecord, connection: Connection | None = None) -> None:
        values = run.to_json()
        statement = update(pipeline_runs).where(pipeline_runs.c.run_id == run.run_id).values(**values)
        if connection is not None:
            connection.execute(statement)
        else:
            self._write(lambda c: c.execute(statement))

    def history(self, pipeline: str, limit: int = 20) -> list[RunRecord]:
        statement = (
            select(pipeline_runs)
            .where(pipeline_runs.c.pipeline == pipeline)
            .order_by(pipeline_runs.c.started_at.desc())
            .limit(limit)
        )
        return self._read(
            lambda connection: [RunRecord(**row._mapping) for row in connection.execute(statement)]
        )

    def get_run(self, run_id: str) -> RunRecord | None:
        def read(connection: Connection) -> RunRecord | None:
            row = connection.execute(select(pipeline_runs).where(pipeline_runs.c.run_id == run_id)).first()
            return RunRecord(**row._mapping) if row is not None else None

        return self._read(read)

    def recent_read_counts(self, pipeline: str, limit: int) -> list[int]:
        """Rows read by the latest runs that got as far as reading, newest first."""
        c = pipeline_runs.c
        statement = (
            select(c.counts)
            .where(c.pipeline == pipeline, c.status.in_(("ok", "warn", "degraded")))
            .order_by(c.started_at.desc())
            .limit(limit)
        )
        return self._read(
            lambda connection: [int((row[0] or {}).get("read", 0)) for row in connection.execute(statement)]
        )

    def latest_runs(self) -> dict[str, RunRecord]:
        c = pipeline_runs.c
        newest = select(c.pipeline, func.max(c.started_at).label("at")).group_by(c.pipeline).subquery()
        statement = select(pipeline_runs).join(
            newest, (c.pipeline == newest.c.pipeline) & (c.started_at == newest.c.at)
        )
        return self._read(
            lambda connection: {
                row.pipeline: RunRecord(**row._mapping) for row in connection.execute(statement)
            }
        )

    # --- quarantine -------------------------------------------------------------------------

    def add_quarantine(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return

        def write(connection: Connection) -> None:
            for start in range(0, len(rows), _BATCH):
                connection.execute(insert(pipeline_quarantine), rows[start : start + _BATCH])

        self._write(write)

    def quarantine(
        self, pipeline: str, *, run_id: str | None = None, limit: int = 100
    ) -> list[QuarantinedRow]:
        """Rows set aside by ``run_id``, or by the pipeline's latest run that set any aside."""
        c = pipeline_quarantine.c

        def read(connection: Connection) -> list[QuarantinedRow]:
            wanted = run_id
            if wanted is None:
                wanted = connection.execute(
                    select(c.run_id).where(c.pipeline == pipeline).order_by(c.id.desc()).limit(1)
                ).scalar_one_or_none()
                if wanted is None:
                    return []
            statement = (
                select(pipeline_quarantine)
                .where(c.pipeline == pipeline, c.run_id == wanted)
                .order_by(c.id)
                .limit(limit)
            )
            return [QuarantinedRow(**row._mapping) for row in connection.execute(statement)]

        return self._read(read)

    # --- schedule slots ---------------------------------------------------------------------

    def claim_slot(self, pipeline: str, slot: float, owner: str) -> bool:
        """True for exactly one caller per (pipeline, slot), across every replica."""
        try:
            self._write(
                lambda connection: connection.execute(
                    insert(pipeline_slots).values(
                        pipeline=pipeline, slot=slot, claimed_by=owner, claimed_at=time.time()
                    )
                )
            )
            return True
        except IntegrityError:
            return False

    def last_slot(self, pipeline: str) -> float | None:
        c = pipeline_slots.c
        return self._read(
            lambda connection: connection.execute(
                select(func.max(c.slot)).where(c.pipeline == pipeline)
            ).scalar()
        )
