"""PostgreSQL as the store: the same migrations, concurrent replicas starting at once, the same behaviour."""

from __future__ import annotations

import concurrent.futures
import time

import pytest
from sqlalchemy import inspect, text

from headway.admission.ledger import SpendLedger
from headway.cli.replicas import scratch_database
from headway.store import RequestQuery, SqlStore
from headway.store import migrate as migrations
from headway.store.tables import metadata
from headway.types import Attempt, RequestRecord

pytestmark = pytest.mark.postgres


def test_every_migration_branch_applies_once_when_replicas_start_together() -> None:
    with scratch_database(prefix="hw_test_") as url:
        stores = [SqlStore(url) for _ in range(3)]
        try:
            with concurrent.futures.ThreadPoolExecutor(3) as pool:
                list(pool.map(lambda store: store.migrate(), stores))  # the advisory lock serialises them
            with stores[0]._engine.connect() as connection:
                applied = {row[0] for row in connection.execute(text("SELECT version_num FROM alembic_version"))}
            assert applied == set(migrations.head_revisions())
            tables = set(inspect(stores[0]._engine).get_table_names())
            # Every table any part declared on the shared metadata exists, created by its migration.
            assert {name for name in metadata.tables} <= tables
            stores[1].migrate()  # again: nothing to do, no error
        finally:
            for store in stores:
                store.close()


def test_request_records_round_trip_and_replays_are_idempotent() -> None:
    with scratch_database(prefix="hw_test_") as url:
        store = SqlStore(url)
        try:
            store.migrate()
            now = time.time()
            records = [
                RequestRecord(
                    request_id=f"req-{i}",
                    endpoint="chat.completions",
                    model="chat",
                    created_at=now - i,
                    caller="alice" if i % 2 else "bob",
                    team="ml",
                    status_code=200 if i < 4 else 429,
                    cost_usd=0.01,
                    attempts=[Attempt("sim/m", "sim", "m", "ok", 1.5, status=200)],
                    metadata={"k": "v"},
                )
                for i in range(6)
            ]
            assert store.write_requests(records) == 6
            assert store.write_requests(records[:3]) == 0  # a replayed journal writes nothing twice
            got = store.get_request("req-1")
            assert got is not None and got.attempts[0].deployment == "sim/m" and got.metadata == {"k": "v"}
            assert [r.request_id for r in store.list_requests(RequestQuery(caller="alice"))] == ["req-1", "req-3", "req-5"]
            assert len(store.list_requests(RequestQuery(status="error"))) == 2
            # Budgets are seeded from the same log: spend since a moment, by key or team.
            ledger = SpendLedger(store.database)
            assert ledger.spent_usd("key", "alice", now - 3.5) == pytest.approx(0.02)
            assert ledger.spent_usd("team", "ml", 0) == pytest.approx(0.06)
        finally:
            store.close()
