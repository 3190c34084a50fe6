"""One pipeline run, start to finish: read, evaluate, check, index, publish, alert.

Order matters for cost and safety: checks run before any embedding work, so a run that
fails its checks spends nothing on embeddings; the index version and the record hashes
are published in one transaction, so a run that fails at any point leaves the last good
index serving and the next run sees exactly what the last good run accepted.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from headway.config import FolderSource, PipelineConfig
from headway.errors import ConflictError, HeadwayError
from headway.pipelines.alerts import Alert, Alerter
from headway.pipelines.checks import run_checks, worst
from headway.pipelines.evaluate import Evaluation, evaluate
from headway.pipelines.guards import Outcome, guard, held_deletions
from headway.pipelines.indexing import IndexBuild, Progress, build, fingerprint, to_document
from headway.pipelines.metrics import PipelineStats
from headway.pipelines.repository import PipelineRepository, RunRecord
from headway.pipelines.sources import SourceRead, read_source, row_hash
from headway.retrieval import Embedder
from headway.store import Database

log = logging.getLogger("headway.pipelines")

EmbedderFactory = Callable[[str, "int | None", int], Embedder]


class PipelineBusyError(ConflictError):
    """Another run of this pipeline holds its lock."""


@dataclass
class RunnerDeps:
    """What a run needs from outside: the store, alerting and a way to get an embedder."""

    database: Database
    alerter: Alerter
    embedder_for: EmbedderFactory | None = None
    lock_ttl_s: float = 60.0  # renewed every third of it while the run lives; a crashed run's lock lapses
    # Called with the collection after a version is published (this process's ANN index catches up).
    on_published: Callable[[str], None] | None = None
    stats: PipelineStats = field(default_factory=PipelineStats)  # read by /metrics
    on_finished: Callable[[str, str], None] | None = None  # (pipeline, status): the runs-by-status counter


def _alerts(name: str, run: RunRecord, evaluation: Evaluation | None) -> list[Alert]:
    alerts: list[Alert] = []
    if evaluation is not None and not evaluation.diff.empty:
        alerts.append(
            Alert(
                "schema_changed",
                name,
                run.run_id,
                f"{name}: source schema changed {evaluation.diff.to_json()}",
                {"diff": evaluation.diff.to_json(), "policies": evaluation.policies},
            )
        )
    for check in run.checks:
        # Rows set aside are in the run's counts and quarantine; only a tripped limit alerts.
        if check["level"] == "fail" or (check["level"] == "warn" and check["check"] != "quarantine"):
            kind = "check_failed" if check["level"] == "fail" else "check_warn"
            alerts.append(
                Alert(
                    kind,
                    name,
                    run.run_id,
                    f"{name}: {check['check']} check {check['level']}: {check['detail']}",
                    {"check": check},
                )
            )
    if run.status == "failed":
        alerts.append(
            Alert("run_failed", name, run.run_id, f"{name}: run failed: {run.error}", {"counts": run.counts})
        )
    elif run.status == "degraded":
        alerts.append(
            Alert(
                "run_degraded",
                name,
                run.run_id,
                f"{name}: run degraded, the last good index keeps serving",
                {"counts": run.counts},
            )
        )
    return alerts


def _quarantine_rows(name: str, run_id: str, evaluation: Evaluation) -> list[dict[str, Any]]:
    now = time.time()
    return [
        {
            "pipeline": name,
            "run_id": run_id,
            "record_key": record.key,
            "row_number": record.row_number,
            "reasons": [v.to_json() for v in violations],
            "row": record.fields,
            "created_at": now,
        }
        for record, violations in evaluation.quarantined
    ]


async def run_pipeline(
    name: str,
    config: PipelineConfig,
    deps: RunnerDeps,
    *,
    trigger: str = "manual",
    attempt: int = 1,
    progress: Progress | None = None,
) -> RunRecord:
    """Run ``name`` once and return its record; never raises for a failed run (see ``status``)."""
    repository = PipelineRepository(deps.database)
    run = RunRecord(run_id=f"run_{uuid.uuid4().hex[:20]}", pipeline=name, trigger=trigger, attempt=attempt)
    if not await asyncio.to_thread(repository.acquire_lock, name, run.run_id, deps.lock_ttl_s):
        raise PipelineBusyError(f"pipeline {name!r} is already running")
    started = time.perf_counter()
    keeper = asyncio.create_task(_keep_lock(repository, name, run.run_id, deps.lock_ttl_s))
    evaluation: Evaluation | None = None
    build_result: IndexBuild | None = None
    try:
        await asyncio.to_thread(repository.start_run, run)
        evaluation, build_result = await _execute(name, config, deps, repository, run, progress)
    except Exception as exc:  # a run records every failure; the caller decides about retries
        run.status, run.error = "failed", f"{exc.__class__.__name__}: {exc}"[:2000]
        if not isinstance(exc, HeadwayError | OSError):
            log.exception("pipeline run crashed", extra={"pipeline": name, "run_id": run.run_id})
        else:
            log.error(
                "pipeline run failed", extra={"pipeline": name, "run_id": run.run_id, "error": run.error}
            )
    finally:
        keeper.cancel()
        if build_result is not None and run.status not in ("ok", "warn"):
            await asyncio.to_thread(build_result.abandon, deps.database)
        if run.status == "running":
            run.status = "failed"
        run.finished_at = time.time()
        run.duration_ms = round((time.perf_counter() - started) * 1000, 3)
        await asyncio.to_thread(repository.finish_run, run)
        await asyncio.to_thread(repository.release_lock, name, run.run_id)
    deps.stats.record(name, run.status, run.counts)
    if deps.on_finished is not None:
        deps.on_finished(name, run.status)
    await deps.alerter.send(_alerts(name, run, evaluation))
    return run


async def _keep_lock(repository: PipelineRepository, name: str, owner: str, ttl_s: float) -> None:
    while True:
        await asyncio.sleep(ttl_s / 3)
        try:
            await asyncio.to_thread(repository.acquire_lock, name, owner, ttl_s)
        except HeadwayError:
            log.warning("could not renew the pipeline lock", extra={"pipeline": name, "run_id": owner})


async def _execute(
    name: str,
    config: PipelineConfig,
    deps: RunnerDeps,
    repository: PipelineRepository,
    run: RunRecord,
    progress: Progress | None,
) -> tuple[Evaluation, IndexBuild | None]:
    state = await asyncio.to_thread(repository.state, name)
    read: SourceRead = await asyncio.to_thread(read_source, config.source, cursor=state.cursor)
    if progress is not None:
        progress("read", len(read.records), len(read.records))
    evaluation = evaluate(config.contract, state.schema, read)
    run.schema_diff = {**evaluation.diff.to_json(), "policies": evaluation.policies}
    run.counts = {"read": len(read.records), "quarantined": len(evaluation.quarantined)}
    await asyncio.to_thread(repository.add_quarantine, _quarantine_rows(name, run.run_id, evaluation))
    if evaluation.failure is not None:
        run.status, run.error = "failed", evaluation.failure
        return evaluation, None
    history = await asyncio.to_thread(
        repository.recent_read_counts, name, max((c.window for c in config.checks), default=5) + 1
    )
    # This run is stored as 'running', which the query skips: the history is earlier runs only.
    checks = run_checks(config.checks, evaluation.rows, valid=len(evaluation.accepted), history=history)

    salt = fingerprint(config.index)
    previous = await asyncio.to_thread(repository.record_hashes, name)
    hashes = {
        r.key: hashlib.sha256((row_hash(r.fields) + salt).encode()).hexdigest() for r in evaluation.accepted
    }
    new = [r for r in evaluation.accepted if r.key not in previous]
    changed = [r for r in evaluation.accepted if r.key in previous and previous[r.key] != hashes[r.key]]
    present = read.present_keys if read.present_keys is not None else {r.key for r in read.records}
    # Quarantined records are still present in the source: they keep their last good version.
    deleted, held = held_deletions(
        [key for key in previous if key not in present], evaluation.unkeyed_quarantined
    )
    set_aside = {record.key for record, _ in evaluation.quarantined if record.key in previous}
    checks += guard(
        config.safety,
        Outcome(
            accepted_before=len(previous),
            read=len(read.records),
            quarantined=len(evaluation.quarantined),
            deleted=len(deleted),
            quarantined_accepted=len(set_aside),
            deletions_held=held,
        ),
    )
    run.checks = [c.to_json() for c in checks]
    run.counts.update(
        new=len(new),
        changed=len(changed),
        deleted=len(deleted),
        deletions_held=held,
        unchanged=len(evaluation.accepted) - len(new) - len(changed),
    )
    if worst(checks) == "fail":
        run.status = "degraded"
        return evaluation, None

    index_build: IndexBuild | None = None
    # A run that changes nothing publishes nothing: readers keep their version and caches.
    if config.index is not None and (new or changed or deleted):
        index = config.index
        embedder = None
        if index.embeddings:
            if deps.embedder_for is None:
                raise HeadwayError("this process has no embeddings models configured")
            embedder = deps.embedder_for(index.embeddings, index.dimensions, index.batch_size)
        folder = isinstance(config.source, FolderSource)
        documents = [to_document(r, index, folder=folder) for r in [*new, *changed]]
        index_build = await build(
            deps.database,
            index.collection or name,
            index,
            embedder,
            documents,
            [r.key for r in changed] + deleted,
            progress,
        )
        run.counts.update(index_build.counts)
        run.index_version = index_build.version
    run.status = "warn" if worst(checks) == "warn" else "ok"
    upserts = {r.key: hashes[r.key] for r in [*new, *changed]}

    def publish() -> None:
        with deps.database.transaction("publish a pipeline run") as connection:
            if index_build is not None:
                index_build.commit(connection)
            repository.commit_accepted(
                connection,
                name,
                upserts=upserts,
                deletes=deleted,
                schema=evaluation.schema,
                cursor=read.cursor,
                run_id=run.run_id,
            )
            repository.finish_run(run, connection)

    try:
        await asyncio.to_thread(publish)
    except Exception:
        run.status = "failed"
        raise
    if index_build is not None and deps.on_published is not None:
        try:
            await asyncio.to_thread(deps.on_published, index_build.collection)
        except Exception:  # published is published: readers catch up on their own
            log.exception("vector index update after publishing failed", extra={"pipeline": name})
    return evaluation, index_build
