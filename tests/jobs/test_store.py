"""Durability rules in the store: one claimant per lease, fenced writes, lines answered once, retries."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from headway.config.jobs import BatchConfig
from headway.jobs import batch_run as batch_run_module
from headway.jobs.batch_run import BatchRun
from headway.jobs.batch_store import MAX_CLAIMS, BatchStore
from headway.jobs.batch_throttle import BatchThrottle
from headway.jobs.execute import Answer, Execute
from headway.jobs.file_store import FileStore
from headway.jobs.job_store import JobStore
from headway.jobs.models import Batch, FileObject, ItemResult, Job
from headway.store.sql import SqlStore


@pytest.fixture
def database(store_url: str) -> Iterator[Any]:
    store = SqlStore(store_url)
    store.migrate()
    yield store.database
    store.close()


def a_job(job_id: str = "job_1", **extra: Any) -> Job:
    now = time.time()
    return Job(id=job_id, status="queued", endpoint="/v1/chat/completions", model="chat", caller="alice", team=None,
               principal={"caller": "alice"}, body={"model": "chat", "messages": []}, max_attempts=2, run_after=now,
               created_at=now, **extra)


def a_batch(batch_id: str, lines: int, *, window_s: float = 3600) -> tuple[Batch, list[dict[str, Any]]]:
    now = time.time()
    batch = Batch(id=batch_id, status="validating", endpoint="/v1/chat/completions", input_file_id="file-x", completion_window="1h",
                  caller="alice", team=None, principal={"caller": "alice"}, created_at=now, expires_at=now + window_s, total=lines)
    items = [{"batch_id": batch_id, "line": i, "item_id": f"batch_req_{i}", "custom_id": f"c{i}", "status": "pending",
              "body": {"model": "chat", "messages": [{"role": "user", "content": str(i)}]}, "output": None,
              "cost_usd": None, "finished_at": None} for i in range(1, lines + 1)]
    return batch, items


def test_one_worker_wins_a_job_and_a_lapsed_lease_is_taken_again(database: Any) -> None:
    jobs = JobStore(database)
    jobs.insert(a_job())
    first = jobs.claim("w1", lease_s=30)
    assert first is not None and first.attempts == 1 and first.lease_owner == "w1"
    assert jobs.claim("w2", lease_s=30) is None  # leased
    jobs.release(["job_1"], "w1")  # as if the lease ran out
    assert jobs.claim("w1", lease_s=30, running=["job_1"]) is None  # never twice in one worker
    second = jobs.claim("w2", lease_s=30)
    assert second is not None and second.attempts == 2
    # The first worker's late outcome is refused: the second attempt owns it.
    assert jobs.finish(first, "w1", status="completed", status_code=200, result={"x": 1}) is False
    assert jobs.finish(second, "w2", status="completed", status_code=200, result={"x": 2}) is True
    stored = jobs.get("job_1")
    assert stored is not None and stored.result == {"x": 2} and stored.lease_owner is None


def test_a_job_out_of_attempts_fails_instead_of_looping(database: Any) -> None:
    jobs = JobStore(database)
    jobs.insert(a_job())
    for owner in ("w1", "w2"):
        assert jobs.claim(owner, lease_s=30) is not None
        jobs.release(["job_1"], owner)
    assert jobs.claim("w3", lease_s=30) is None
    stored = jobs.get("job_1")
    assert stored is not None and stored.status == "failed" and stored.error is not None
    assert stored.error["code"] == "worker_lost"


def test_a_line_is_counted_once(database: Any) -> None:
    batches = BatchStore(database)
    batch, items = a_batch("batch_1", 2)
    batches.create(batch, items)
    result = ItemResult(1, True, {"id": "batch_req_1"}, cost_usd=0.5, input_tokens=3, output_tokens=4)
    assert batches.commit("batch_1", result) is True
    assert batches.commit("batch_1", result) is False  # a second worker finishing the same line
    stored = batches.get("batch_1")
    assert stored is not None
    assert (stored.completed, stored.failed, stored.cost_usd, stored.input_tokens) == (1, 0, 0.5, 3)
    assert [item.line for item in batches.pending("batch_1", after_line=0, limit=10)] == [2]


def test_a_batch_whose_worker_keeps_dying_fails(database: Any) -> None:
    batches = BatchStore(database)
    batch, items = a_batch("batch_2", 1)
    batches.create(batch, items)
    for attempt in range(MAX_CLAIMS):
        claimed = batches.claim(f"w{attempt}", lease_s=30)
        assert claimed is not None and claimed.attempts == attempt + 1
        assert batches.claim("other", lease_s=30) is None
        batches.release(["batch_2"], f"w{attempt}")
    assert batches.claim("last", lease_s=30) is None
    stored = batches.get("batch_2")
    assert stored is not None and stored.status == "failed" and stored.errors is not None


def _run(database: Any, batch: Batch, execute: Execute, config: BatchConfig | None = None) -> BatchRun:
    return BatchRun(
        execute,
        batch,
        owner="w1",
        store=BatchStore(database),
        files=FileStore(database),
        throttle=BatchThrottle(2, 8, lambda: 0),
        config=config or BatchConfig(),
        retention_s=3600,
        on_done=lambda _: None,
    )


async def test_shed_lines_wait_and_try_again(database: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    batches = BatchStore(database)
    batch, items = a_batch("batch_3", 2)
    batches.create(batch, items)
    calls: list[str] = []

    async def fake_execute(ctx: Any, endpoint: str, body: dict[str, Any]) -> Answer:
        calls.append(body["messages"][0]["content"])
        if calls.count("1") == 1 and body["messages"][0]["content"] == "1":
            return Answer(503, {"error": {"message": "shed"}}, ctx.request_id, retryable=True, retry_after_s=0.0)
        return Answer(200, {"object": "chat.completion"}, ctx.request_id, cost_usd=0.25)

    monkeypatch.setattr(batch_run_module, "_RETRY_BASE_S", 0.0)
    claimed = batches.claim("w1", lease_s=30)
    assert claimed is not None
    await _run(database, claimed, fake_execute).run()
    stored = batches.get("batch_3")
    assert stored is not None and stored.status == "completed"
    assert (stored.completed, stored.failed, stored.cost_usd) == (2, 0, 0.5)
    assert sorted(calls) == ["1", "1", "2"]  # line 1 was shed once, then answered


async def test_stopping_leaves_lines_pending_and_writes_no_files(database: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    batches = BatchStore(database)
    batch, items = a_batch("batch_4", 3)
    batches.create(batch, items)
    started = asyncio.Event()

    async def hanging_execute(ctx: Any, endpoint: str, body: dict[str, Any]) -> Answer:
        started.set()
        await asyncio.sleep(3600)
        raise AssertionError("never answered")

    claimed = batches.claim("w1", lease_s=30)
    assert claimed is not None
    run = _run(database, claimed, hanging_execute)
    task = asyncio.create_task(run.run())
    await started.wait()
    run.stop(batch_run_module.LOST)
    await task
    stored = batches.get("batch_4")
    assert stored is not None and stored.status == "in_progress" and stored.output_file_id is None
    assert len(batches.pending("batch_4", after_line=0, limit=10)) == 3


def test_a_caller_lists_only_its_own_files_batches_and_jobs_newest_first_a_page_at_a_time(database: Any) -> None:
    files, batch_store, job_store = FileStore(database), BatchStore(database), JobStore(database)
    owners = [("alice", None), ("alice", "red"), ("bob", None)]  # same caller in another team is someone else
    for n in range(5):
        for caller, team in owners:
            suffix = f"{caller}-{team}-{n}"
            files.put(FileObject(f"file-{suffix}", "batch", "in.jsonl", 1, caller, team, 1000.0 + n // 2), b"x")
            batch, _ = a_batch(f"batch_{suffix}", 0)
            batch_store.create(replace(batch, caller=caller, team=team, created_at=1000.0 + n // 2), [])
            job_store.insert(replace(a_job(f"job_{suffix}"), caller=caller, team=team, created_at=1000.0 + n // 2))
    # Two rows share each created_at: the id breaks the tie, so no page repeats or skips one.
    expected = [f"alice-None-{n}" for n in (4, 3, 2, 1, 0)]
    for listed, prefix in ((files.list_owned, "file-"), (batch_store.list_owned, "batch_")):
        pages: list[str] = []
        after = None
        while True:
            page = listed("alice", None, after=after, limit=2)
            if not page:
                break
            pages += [row.id.removeprefix(prefix) for row in page]
            after = page[-1].id
        assert pages == expected, prefix
    assert [j.id.removeprefix("job_") for j in job_store.list_owned("alice", None, limit=3)] == expected[:3]
    assert [j.id for j in job_store.list_owned("alice", "red", limit=10)] == [f"job_alice-red-{n}" for n in (4, 3, 2, 1, 0)]
