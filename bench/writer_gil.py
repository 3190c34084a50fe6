"""What a write-behind batch costs when the event loop is busy: ``executemany`` against ``BulkInsert``.

    .venv/bin/python bench/writer_gil.py [--batches 40]

The request log's and the cache's writers run in a worker thread beside the serving thread.
SQLite's module releases the GIL around each step of a statement, so ``executemany`` hands
the GIL back and forth once per row; with the serving thread busy, every row waits out much
of a switch interval (``headway serve`` sets 0.5 ms). ``BulkInsert`` (``store/bulk_insert.py``)
sends up to 64 rows per statement: one step, one hand-off. This script writes the same
request-log batches (100–500 realistic records each, into a fresh SQLite store) both ways,
with nothing else running and with a thread spinning in Python (the stand-in for a busy event
loop), and prints the writer thread's CPU and wall time per row.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from headway.store.sql import SqlStore, _record_to_params
from headway.types import Attempt, RequestRecord

SWITCH_INTERVAL_S = 0.0005  # what `headway serve` sets (cli/serve.py)


def record() -> RequestRecord:
    return RequestRecord(
        request_id=f"req_{random.getrandbits(64):016x}", endpoint="chat.completions", model="chat", caller="key_bench",
        status_code=200, latency_ms=1.2, input_tokens=9, output_tokens=12, cost_usd=0.00001, served_by="primary",
        deployment="upstream/gpt-4o-mini",
        attempts=[Attempt(deployment="upstream/gpt-4o-mini", provider="upstream", model="gpt-4o-mini", outcome="ok",
                          latency_ms=0.8, status=200)],
    )


@contextmanager
def busy_thread(on: bool) -> Iterator[None]:
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            total = 0
            for i in range(1000):
                total += i

    thread = threading.Thread(target=spin, daemon=True)
    if on:
        thread.start()
    try:
        yield
    finally:
        stop.set()
        if on:
            thread.join()


def measure(write: Callable[[SqlStore, Sequence[tuple[Any, ...]]], None], busy: bool, batches: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="hw-writer-gil-") as tmp:
        store = SqlStore(f"sqlite:///{tmp}/headway.db")
        store.migrate()
        cpu = wall = 0.0
        rows_written = 0
        with busy_thread(busy):
            for batch in range(batches):
                rows = [_record_to_params(record()) for _ in range(random.randint(100, 500))]
                started, started_cpu = time.perf_counter(), time.thread_time()
                write(store, rows)
                if batch >= 5:  # the first batches warm the statement cache and the pool
                    cpu += time.thread_time() - started_cpu
                    wall += time.perf_counter() - started
                    rows_written += len(rows)
    return {"cpu_us_per_row": round(cpu / rows_written * 1e6, 1), "wall_us_per_row": round(wall / rows_written * 1e6, 1)}


def executemany(store: SqlStore, rows: Sequence[tuple[Any, ...]]) -> None:
    insert = store._insert_requests
    with store.database.transaction() as connection:
        connection.exec_driver_sql(insert.sql(1), list(rows))


def bulk_insert(store: SqlStore, rows: Sequence[tuple[Any, ...]]) -> None:
    with store.database.transaction() as connection:
        store._insert_requests.execute(connection, rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batches", type=int, default=40)
    args = parser.parse_args()
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    results = {
        f"{name}, {'busy loop' if busy else 'idle'}": measure(write, busy, args.batches)
        for busy in (False, True)
        for name, write in (("executemany", executemany), ("BulkInsert", bulk_insert))
    }
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
