"""How fast the webhook outbox drains, and how fast the work queue hands out claims.

    .venv/bin/python bench/webhook_outbox.py [--store sqlite|postgresql] [--messages 2000] [--concurrency 8] [--claimers 4]

Outbox: ``--messages`` deliveries (20 subjects, so per-subject order holds back the rest
of each subject while one is in flight) are enqueued into a fresh store, then one
``WebhookDelivery`` sends them to an aiohttp receiver on 127.0.0.1 that answers 204 at
once; reported: deliveries per second until the outbox is empty (claim, sign, POST,
settle: two store transactions and one HTTP call each). Queue: ``--claimers`` threads
claim and settle ``--messages`` rows of a bare queue table; reported: claims per second
and that no row was claimed twice. PostgreSQL runs on 127.0.0.1 (a scratch database).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import threading
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

from aiohttp import web
from sqlalchemy import Column, Double, Integer, MetaData, String, Table, insert

from headway.config.webhooks import RetrySchedule, WebhooksConfig
from headway.observe.webhooks import Receiver, WebhookDelivery
from headway.store import Outbox, QueueShape, WebhookMessage, WorkQueue
from headway.store.sql import SqlStore

SECRET = "whsec_" + "YmVuY2gtc2VjcmV0LWJlbmNoLXNlY3JldC0wMTIzNDU="
POSTGRES = "postgresql://postgres@127.0.0.1:5432"


async def drain(store: SqlStore, messages: int, concurrency: int) -> tuple[float, int]:
    received = 0

    async def hook(request: web.Request) -> web.Response:
        nonlocal received
        await request.read()
        received += 1
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hooks", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    outbox = Outbox(store.database)
    outbox.enqueue(
        [
            WebhookMessage(f"bench.{n}", "job", "job.completed", f"subject-{n % 20}", "bench", f"http://127.0.0.1:{port}/hooks",
                           {"n": n, "data": {"id": f"job_{n}", "status": "completed"}})
            for n in range(messages)
        ]
    )
    config = WebhooksConfig(concurrency=concurrency)
    delivery = WebhookDelivery(outbox, {"bench": Receiver((SECRET,), RetrySchedule())}, config)
    started = time.perf_counter()
    while await delivery.run_once():
        pass
    elapsed = time.perf_counter() - started
    await delivery.close()
    await runner.cleanup()
    assert outbox.stats().delivered == messages and received == messages, (outbox.stats(), received)
    return elapsed, received


def claims(store: SqlStore, rows: int, claimers: int) -> float:
    metadata = MetaData()
    table = Table(
        "bench_queue", metadata,
        Column("id", String(64), primary_key=True), Column("status", String(16), nullable=False),
        Column("attempts", Integer, nullable=False), Column("max_attempts", Integer, nullable=False),
        Column("run_after", Double, nullable=False), Column("lease_owner", String(100)), Column("lease_until", Double),
    )
    metadata.create_all(store._engine)
    queue = WorkQueue(store.database, QueueShape(table=table, waiting=("ready",), running="leased", order=("run_after",)))
    now = time.time()
    with store.database.transaction() as connection:
        connection.execute(insert(table), [
            {"id": f"r{n:06d}", "status": "ready", "attempts": 0, "max_attempts": 3, "run_after": now} for n in range(rows)
        ])
    seen: Counter[str] = Counter()
    lock = threading.Lock()

    def work(name: str) -> None:
        while (row := queue.claim(name, 60)) is not None:
            queue.settle(row["id"], name, {"status": "done"})
            with lock:
                seen[row["id"]] += 1

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(claimers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    assert len(seen) == rows and set(seen.values()) == {1}, "a row was claimed twice or not at all"
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--claimers", type=int, default=4)
    args = parser.parse_args()
    with ExitStack() as stack:
        if args.store == "sqlite":
            url = f"sqlite:///{Path(stack.enter_context(tempfile.TemporaryDirectory()))}/bench.db"
        else:
            from headway.cli.replicas import scratch_database

            url = stack.enter_context(scratch_database(POSTGRES, prefix="hw_bench_"))
        store = SqlStore(url)
        store.migrate()
        elapsed, sent = asyncio.run(drain(store, args.messages, args.concurrency))
        print(f"outbox ({args.store}, concurrency {args.concurrency}): {sent} deliveries in {elapsed:.2f} s = {sent / elapsed:,.0f}/s")
        took = claims(store, args.messages, args.claimers)
        print(f"queue ({args.store}, {args.claimers} claimers): {args.messages} claim+settle in {took:.2f} s = {args.messages / took:,.0f}/s, none twice")
        store.close()


if __name__ == "__main__":
    main()
