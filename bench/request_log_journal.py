"""The hot-path cost of a crash-safe request log: ``RequestLog.record()`` with and without the crash segment.

    .venv/bin/python bench/request_log_journal.py [--records 20000] [--rounds 5] [--dir .headway/bench-journal]

Each round hands ``--records`` realistic records (one attempt, metadata, quality) to a
request log over a real SQLite store, first without the crash segment, then with it
(encode + one ``write()`` to an ``O_APPEND`` file per record), and reports the median
per-record time of each and the difference: the price of "no acknowledged request without
a record, even under SIGKILL". The background flush is parked (long interval, huge
batch) so only the hot path is timed; the store write and the segment's fsync happen off
it. Also times one segment rotation (open + fsync + unlink), which runs once per flush
interval in the background. Files go under ``--dir`` (the disk the spill folder lives on).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from headway.observe.request_log import RequestLog
from headway.store.journal import Journal
from headway.store.sql import SqlStore
from headway.types import Attempt, RequestRecord


def make_record(n: int) -> RequestRecord:
    return RequestRecord(
        request_id=f"req_{n:024x}",
        endpoint="chat.completions",
        model="chat",
        caller="key:app-frontend",
        team="search",
        status_code=200,
        latency_ms=412.5,
        ttft_ms=88.1,
        input_tokens=812,
        output_tokens=164,
        cost_usd=0.000220,
        served_by="primary",
        deployment="openai/gpt-4o-mini",
        attempts=[Attempt("openai/gpt-4o-mini", "openai", "gpt-4o-mini", "ok", 401.2, status=200, ttft_ms=80.0)],
        metadata={"feature": "search-answer", "session": "s-1234"},
        quality={"guards": {"pii": 0}},
    )


async def per_record_us(folder: Path, store: SqlStore, records: list[RequestRecord], crash_safe: bool) -> float:
    log = RequestLog(store, capacity=len(records) + 1, batch_size=len(records) + 1, flush_interval=60,
                     spill_dir=folder, crash_safe=crash_safe)
    await log.start()
    started = time.perf_counter()
    for record in records:
        log.record(record)
    elapsed = time.perf_counter() - started
    await log.close()
    return elapsed / len(records) * 1e6


def rotation_ms(folder: Path, lines: int = 100) -> float:
    journal = Journal(folder, "rotation")
    data = json.dumps(make_record(0).to_dict()).encode() + b"\n"
    times = []
    for _ in range(20):
        segment = journal.open_segment()
        for _ in range(lines):
            journal.append(segment, data)
        started = time.perf_counter()
        replacement = journal.open_segment()
        journal.sync(segment)
        journal.retire(segment)
        times.append((time.perf_counter() - started) * 1000)
        journal.retire(replacement)
    return statistics.median(times)


def scratch_folder(under: str) -> Path:
    base = Path(under)
    base.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix="journal-", dir=base))


async def main(args: argparse.Namespace) -> dict[str, Any]:
    folder = scratch_folder(args.dir)
    store = SqlStore(f"sqlite:///{folder}/bench.db")
    store.migrate()
    try:
        without, with_segment = [], []
        for round_ in range(args.rounds):
            records = [make_record(round_ * args.records * 2 + n) for n in range(args.records * 2)]
            without.append(await per_record_us(folder / "off", store, records[: args.records], False))
            with_segment.append(await per_record_us(folder / "on", store, records[args.records :], True))
        result = {
            "records_per_round": args.records,
            "rounds": args.rounds,
            "record_us_without_crash_segment": round(statistics.median(without), 2),
            "record_us_with_crash_segment": round(statistics.median(with_segment), 2),
            "crash_segment_cost_us": round(statistics.median(with_segment) - statistics.median(without), 2),
            "rotation_ms_100_records": round(rotation_ms(folder / "rot"), 3),
            "rounds_without": [round(x, 2) for x in without],
            "rounds_with": [round(x, 2) for x in with_segment],
        }
    finally:
        store.close()
        shutil.rmtree(folder, ignore_errors=True)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dir", default=".headway/bench-journal")
    print(json.dumps(asyncio.run(main(parser.parse_args())), indent=2))
