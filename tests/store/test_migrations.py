"""Migrations up and down, with data in every table, on SQLite and PostgreSQL; ``headway migrate``;
a schema newer than this release is refused; a failed migration keeps the gateway not ready
(with the reason and the fixing command) until a retry applies it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from headway.cli.replicas import scratch_database
from headway.config.loader import parse_config
from headway.store import migrate
from headway.store.sql import create_store_engine
from headway.testing import GatewayThread
from tests.conftest import base_config
from tests.http import request

STORES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=STORES)
def empty_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A store URL with nothing in it (not even the schema)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/fresh.db"
        return
    with scratch_database(prefix="hw_test_mig_") as url:
        yield url


@pytest.fixture
def engine(empty_store: str) -> Iterator[Engine]:
    engine = create_store_engine(empty_store)
    yield engine
    engine.dispose()


def _value(column: sa.Column[Any]) -> Any:
    kind = column.type
    if isinstance(kind, sa.Boolean):
        return True
    if isinstance(kind, sa.Integer):
        return 1
    if isinstance(kind, (sa.Float, sa.Numeric)):
        return 1.0
    if isinstance(kind, sa.JSON):
        return {"n": 1}
    if isinstance(kind, sa.LargeBinary):
        return b"\x01"
    return "1"  # strings and text; keys referencing other tables' "1" keys line up


def user_tables(engine: Engine) -> dict[str, sa.Table]:
    metadata = sa.MetaData()
    metadata.reflect(engine)
    return {
        t.name: t for t in metadata.sorted_tables
        if t.name != "alembic_version" and not t.name.startswith("retrieval_fts")
    }


def fill(engine: Engine) -> dict[str, int]:
    """One row in every table; returns the row counts."""
    tables = user_tables(engine)
    with engine.begin() as connection:
        for table in tables.values():
            row = {c.name: _value(c) for c in table.columns if c.computed is None}
            if connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() == 0:
                connection.execute(table.insert().values(row))
    return counts(engine)


def schema(engine: Engine) -> set[str]:
    """Every user table and every index on one, by name: what a migration step can add or drop."""
    tables = user_tables(engine)
    return set(tables) | {f"{name}.{index.name}" for name, table in tables.items() for index in table.indexes}


def counts(engine: Engine) -> dict[str, int]:
    tables = user_tables(engine)
    with engine.connect() as connection:
        return {name: connection.execute(sa.select(sa.func.count()).select_from(t)).scalar_one() for name, t in tables.items()}


def test_every_migration_goes_up_and_down_with_data_in_the_tables(engine: Engine) -> None:
    migrate.upgrade(engine, "0001_requests")
    assert fill(engine) == {"requests": 1}
    migrate.upgrade(engine)
    full = fill(engine)
    assert full["requests"] == 1  # the root's row survived every later migration
    assert all(n == 1 for n in full.values()) and len(full) > 10
    assert all(b.up_to_date for b in migrate.status(engine))
    # Each branch's last downgrade() undoes exactly what its step did (drops the tables, rows and
    # all, or indexes it made; puts back the indexes it dropped); every other table keeps its row.
    for branch in migrate.status(engine):
        before, tables_before = schema(engine), set(counts(engine))
        migrate.downgrade(engine, f"{branch.branch}@-1" if branch.branch != migrate.ROOT_BRANCH else "base")
        undone = before ^ schema(engine)
        assert undone, f"downgrading {branch.branch} changed nothing"
        assert all(n == 1 for n in counts(engine).values())
        assert set(counts(engine)) <= tables_before
        assert next(b for b in migrate.status(engine) if b.branch == branch.branch).current != branch.head
        migrate.upgrade(engine)
        assert schema(engine) == before
        fill(engine)
    migrate.downgrade(engine, "base")
    assert counts(engine) == {}
    assert all(b.current is None for b in migrate.status(engine))
    migrate.upgrade(engine)
    assert fill(engine) == full


def test_a_schema_newer_than_this_release_is_refused(engine: Engine) -> None:
    migrate.upgrade(engine)
    with engine.begin() as connection:
        connection.execute(sa.text("INSERT INTO alembic_version (version_num) VALUES ('zz_from_the_future')"))
    with pytest.raises(migrate.SchemaUnknownError, match=r"zz_from_the_future.*headway migrate downgrade"):
        migrate.upgrade(engine)
    with pytest.raises(migrate.SchemaUnknownError):
        migrate.status(engine)


def headway(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "headway", *args], capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_headway_migrate_status_upgrade_downgrade_and_sql(empty_store: str) -> None:
    fresh = headway("migrate", "status", "--store", empty_store, "--json")
    assert fresh.returncode == 1, fresh.stderr  # behind: exit 1
    assert not json.loads(fresh.stdout)["up_to_date"]
    printed = headway("migrate", "upgrade", "--store", empty_store, "--sql")
    assert printed.returncode == 0, printed.stderr
    assert "CREATE TABLE requests" in printed.stdout and "CREATE TABLE audit_log" in printed.stdout
    assert headway("migrate", "status", "--store", empty_store).returncode == 1  # --sql changed nothing
    done = headway("migrate", "upgrade", "--store", empty_store, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["up_to_date"]
    status = headway("migrate", "status", "--store", empty_store)
    assert status.returncode == 0 and "cache_0003" in status.stdout and "up to date" in status.stdout
    undo = headway("migrate", "downgrade", "--store", empty_store, "--to", "cache@-1", "--sql")
    assert undo.returncode == 0 and "CREATE INDEX ix_cache_entries_caller" in undo.stdout
    assert headway("migrate", "status", "--store", empty_store).returncode == 0
    back = headway("migrate", "downgrade", "--store", empty_store, "--to", "cache@-1", "--json")
    assert back.returncode == 0, back.stderr
    cache = next(b for b in json.loads(back.stdout)["branches"] if b["branch"] == "cache")
    assert cache["current"] == "cache_0002" and cache["head"] == "cache_0003"
    assert headway("migrate", "downgrade", "--store", empty_store).returncode == 2  # --to is required


def test_serve_refuses_a_schema_it_does_not_know_and_names_the_fix(empty_store: str, tmp_path: Path) -> None:
    engine = create_store_engine(empty_store)
    try:
        migrate.upgrade(engine)
        with engine.begin() as connection:
            connection.execute(sa.text("UPDATE alembic_version SET version_num = 'zz_next' WHERE version_num = 'cache_0003'"))
    finally:
        engine.dispose()
    config = tmp_path / "headway.yaml"
    config.write_text(json.dumps({"store": empty_store, "auth": {"mode": "none"}, "request_log": {"spill_dir": str(tmp_path / "spill")}}))
    served = headway("serve", "--config", str(config), "--port", "0", timeout=60)
    assert served.returncode != 0
    assert "zz_next" in served.stderr and "headway migrate downgrade" in served.stderr
    status = headway("migrate", "status", "--store", empty_store)
    assert status.returncode == 2 and "zz_next" in status.stderr


def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not within {timeout}s")
        time.sleep(0.1)


def test_a_failed_migration_keeps_readyz_not_ready_until_a_retry_applies_it(sim: Any, empty_store: str, tmp_path: Path) -> None:
    # A conflicting object: a table with a migration's name and another shape.
    engine = create_store_engine(empty_store)
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE review_items (something_else INTEGER)"))
    config = parse_config(base_config(sim.url, empty_store, tmp_path / "spill"))
    with GatewayThread(config) as gw:
        for _ in range(3):  # the store answers its ping; that must not clear the failure
            ready = request("GET", gw.url + "/readyz")
            assert ready.status == 503
            body = ready.json()
            assert body["checks"]["store"]["ok"] and not body["checks"]["migrations"]["ok"]
            (reason,) = [r for r in body["reasons"] if r.startswith("migrations:")]
            assert "review_items" in reason and "headway migrate upgrade" in reason
            time.sleep(1.1)
        served = request(
            "POST", gw.url + "/v1/chat/completions",
            json.dumps({"model": "chat", "messages": [{"role": "user", "content": "during"}]}).encode(),
            {"content-type": "application/json"},
        )
        assert served.status == 200  # still serving; its record waits in the journal
        with engine.begin() as connection:  # the operator removes the conflict
            connection.execute(sa.text("DROP TABLE review_items"))
        _wait(lambda: request("GET", gw.url + "/readyz").status == 200, 40, "ready after the retry")
        assert all(b.up_to_date for b in migrate.status(engine))
        _wait(lambda: gw.runtime.store.get_request(served.headers["x-request-id"]) is not None, 20, "the spilled record")
    engine.dispose()
