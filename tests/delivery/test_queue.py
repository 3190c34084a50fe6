"""The one work queue on a real store (SQLite, and PostgreSQL with HEADWAY_TEST_STORE=postgresql):
priorities, lease expiry and redelivery, retries into the dead letter, and no double claims."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Column, Double, Integer, MetaData, String, Table, insert, select

from headway.store.queue import QueueShape, WorkQueue, backoff
from headway.store.sql import SqlStore

# A queue of its own: the queue is generic over any table that has the columns.
_metadata = MetaData()
work = Table(
    "test_work_items",
    _metadata,
    Column("id", String(64), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    Column("run_after", Double, nullable=False),
    Column("lease_owner", String(100)),
    Column("lease_until", Double),
    Column("error", String(200)),
)
SHAPE = QueueShape(
    table=work,
    waiting=("ready",),
    running="leased",
    priority="priority",
    order=("run_after",),
    dead=lambda now, attempts: {"status": "dead", "error": f"worker lost {attempts} times"},
)


@pytest.fixture
def queue(store_url: str) -> Iterator[WorkQueue]:
    store = SqlStore(store_url)
    _metadata.create_all(store._engine)
    yield WorkQueue(store.database, SHAPE)
    _metadata.drop_all(store._engine)
    store.close()


def add(queue: WorkQueue, item_id: str, *, priority: int = 0, run_after: float | None = None, max_attempts: int = 3) -> None:
    with queue.database.transaction("add work") as connection:
        connection.execute(
            insert(work).values(
                id=item_id, status="ready", priority=priority, attempts=0, max_attempts=max_attempts,
                run_after=time.time() if run_after is None else run_after,
            )
        )


def row(queue: WorkQueue, item_id: str) -> Any:
    with queue.database.connect() as connection:
        return connection.execute(select(work).where(work.c.id == item_id)).one()


def test_higher_priority_first_then_the_oldest(queue: WorkQueue) -> None:
    now = time.time()
    add(queue, "low-old", priority=0, run_after=now - 30)
    add(queue, "high-new", priority=5, run_after=now - 1)
    add(queue, "high-old", priority=5, run_after=now - 10)
    add(queue, "future", priority=9, run_after=now + 3600)  # not due: its priority does not matter yet
    order = [queue.claim("w", 30)["id"] for _ in range(3)]  # type: ignore[index]
    assert order == ["high-old", "high-new", "low-old"]
    assert queue.claim("w", 30) is None


def test_a_lapsed_lease_is_claimed_again_and_fences_out_the_old_worker(queue: WorkQueue) -> None:
    add(queue, "a")
    first = queue.claim("w1", 30)
    assert first is not None and first["attempts"] == 1 and first["status"] == "leased"
    assert queue.claim("w2", 30) is None, "a live lease belongs to its worker"
    assert queue.renew(["a"], "w1", 30) == {"a": {}}
    # w1 stalls past its lease: the item is due again (an attempt is counted).
    later = time.time() + 31
    second = queue.claim("w2", 30, now=later)
    assert second is not None and second["lease_owner"] == "w2" and second["attempts"] == 2
    assert not queue.settle("a", "w1", {"status": "done"}), "the worker that lost its lease cannot write the outcome"
    assert queue.renew(["a"], "w1", 30) == {}
    assert queue.settle("a", "w2", {"status": "done"})
    assert row(queue, "a").status == "done" and row(queue, "a").lease_owner is None


def test_a_released_lease_is_free_at_once(queue: WorkQueue) -> None:
    add(queue, "a")
    assert queue.claim("w1", 300) is not None
    queue.release(["a"], "w1")
    assert queue.claim("w2", 300) is not None


def test_retries_back_off_then_a_lost_last_attempt_is_dead(queue: WorkQueue) -> None:
    add(queue, "a", max_attempts=3)
    claimed = queue.claim("w", 30)
    assert claimed is not None
    assert queue.retry("a", "w", delay_s=60, values={"error": "upstream 503"})
    assert row(queue, "a").status == "ready" and row(queue, "a").run_after >= time.time() + 59
    assert queue.claim("w", 30) is None, "not before its backoff"
    assert queue.claim("w", 30, now=time.time() + 61) is not None  # attempt 2
    # Attempt 3's worker dies; the lapsed lease on the last attempt goes to the dead letter.
    assert queue.claim("w", 30, now=time.time() + 200) is not None  # attempt 3 (attempt 2's lease lapsed)
    assert queue.claim("w", 30, now=time.time() + 400) is None
    dead = row(queue, "a")
    assert dead.status == "dead" and dead.error == "worker lost 3 times" and dead.lease_owner is None
    assert queue.claim("w", 30, now=time.time() + 10_000) is None, "the dead letter is never claimed"


def test_exclude_skips_what_this_worker_runs_already(queue: WorkQueue) -> None:
    add(queue, "a")
    add(queue, "b")
    first = queue.claim("w", 30)
    assert first is not None
    # Its lease lapsed but this worker still runs it: it takes the other one.
    other = queue.claim("w", 30, exclude=[first["id"]], now=time.time() + 60)
    assert other is not None and other["id"] != first["id"]


def test_two_workers_never_claim_the_same_item(queue: WorkQueue) -> None:
    items = 120
    for index in range(items):
        add(queue, f"item-{index:03d}", priority=index % 3)
    claims: Counter[str] = Counter()
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        try:
            while True:
                got = queue.claim(name, 300)
                if got is None:
                    return
                with lock:
                    claims[got["id"]] += 1
                assert queue.settle(got["id"], name, {"status": "done"})
        except BaseException as exc:  # reported below: a thread's assertion must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    assert len(claims) == items and set(claims.values()) == {1}, "every item claimed once, by one worker"
    with queue.database.connect() as connection:
        assert {r.status for r in connection.execute(select(work.c.status))} == {"done"}
    assert queue.waiting_count() == 0


def test_backoff_is_exponential_capped_and_jittered_within_bounds() -> None:
    assert [backoff(n, base_s=5, cap_s=60) for n in range(1, 6)] == [5, 10, 20, 40, 60]
    rng = random.Random(7)
    jittered = [backoff(3, base_s=5, cap_s=60, jitter=0.2, rng=rng) for _ in range(200)]
    assert all(16 <= d <= 24 for d in jittered) and len(set(jittered)) > 100


def test_claim_many_takes_up_to_its_limit_in_priority_order(queue: WorkQueue) -> None:
    for index in range(5):
        add(queue, f"m{index}", priority=index)
    taken = queue.claim_many("w", 30, 3)
    assert [row["id"] for row in taken] == ["m4", "m3", "m2"] and {row["lease_owner"] for row in taken} == {"w"}
    assert [row["id"] for row in queue.claim_many("v", 30, 10)] == ["m1", "m0"]
    assert queue.claim_many("u", 30, 10) == []
