"""The one error translation, on SQLite and PostgreSQL alike (rerun with HEADWAY_TEST_STORE=postgresql).

A real outage (the SQLite file moved away; the PostgreSQL database gone or its port closed)
is ``StoreUnavailableError`` and ends when the store returns; a bug (a missing table, an
unexpected integrity error) surfaces as itself.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from headway.store import RequestQuery, SqlStore, StoreUnavailableError, is_outage, translate_errors
from headway.types import RequestRecord
from tests.conftest import POSTGRES_SERVER


def record(request_id: str) -> RequestRecord:
    return RequestRecord(request_id=request_id, created_at=time.time(), endpoint="chat", model="chat", status_code=200)


@contextmanager
def outage(store: SqlStore) -> Iterator[None]:
    """Take the store away for real, then bring it back."""
    url = make_url(store._engine.url)
    if url.get_backend_name() == "sqlite":
        database = Path(str(url.database))
        away = database.with_name(database.name + ".away")
        database.rename(away)
        try:
            yield
        finally:
            away.rename(database)
        return
    admin = create_engine(f"{POSTGRES_SERVER}/postgres".replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT", poolclass=NullPool)
    name, away = str(url.database), f"{url.database}_away"
    with admin.connect() as connection:
        connection.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"), {"d": name})
        connection.exec_driver_sql(f'ALTER DATABASE "{name}" RENAME TO "{away}"')
    try:
        yield
    finally:
        with admin.connect() as connection:
            connection.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"), {"d": away})
            connection.exec_driver_sql(f'ALTER DATABASE "{away}" RENAME TO "{name}"')
        admin.dispose()


def test_an_outage_is_store_unavailable_and_ends_when_the_store_returns(store: SqlStore) -> None:
    store.write_requests([record("before")])
    assert store.get_request("before") is not None  # a pooled connection is open when the outage begins
    with outage(store):
        for call in (store.ping, lambda: store.get_request("before"), lambda: store.write_requests([record("during")])):
            with pytest.raises(StoreUnavailableError) as caught:
                call()
            assert is_outage(caught.value.__cause__)  # type: ignore[arg-type]
    store.write_requests([record("after")])
    assert {r.request_id for r in store.list_requests(RequestQuery())} == {"before", "after"}


def test_a_moved_sqlite_file_is_not_recreated_empty(tmp_path: Path) -> None:
    path = tmp_path / "headway.db"
    store = SqlStore(f"sqlite:///{path}")
    store.migrate()
    store.write_requests([record("kept")])
    store.close()  # no pooled connection survives: the next one is opened afresh
    path.rename(tmp_path / "moved.db")
    with pytest.raises(StoreUnavailableError, match=r"^cannot read request records: OperationalError$"):
        store.get_request("kept")
    assert not path.exists()  # SQLite did not put an empty database where the real one was
    (tmp_path / "moved.db").rename(path)
    assert store.get_request("kept") is not None
    store.close()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # nothing listens once the probe closes


def test_a_refused_postgresql_connection_is_store_unavailable() -> None:
    store = SqlStore(f"postgresql://postgres@127.0.0.1:{closed_port()}/headway")
    with pytest.raises(StoreUnavailableError, match="reach the store"):
        store.ping()
    with pytest.raises(StoreUnavailableError, match="read request records"):
        store.list_requests(RequestQuery())
    store.close()


def test_an_unwritable_sqlite_folder_is_store_unavailable(tmp_path: Path) -> None:
    (tmp_path / "db").mkdir()
    store = SqlStore(f"sqlite:///{tmp_path}/db/headway.db")
    (tmp_path / "db").rmdir()
    with pytest.raises(StoreUnavailableError):
        store.migrate()
    store.close()


def test_a_missing_table_surfaces_as_a_bug(store: SqlStore) -> None:
    with store.database.transaction("drop a table") as connection:
        connection.exec_driver_sql("DROP TABLE requests")
    with pytest.raises(SQLAlchemyError) as caught:
        store.list_requests(RequestQuery())
    assert not isinstance(caught.value, StoreUnavailableError) and not is_outage(caught.value)
    assert "requests" in str(caught.value)
    with pytest.raises(SQLAlchemyError):
        store.write_requests([record("lost")])  # not "unavailable": a spill-and-retry loop would hide it forever


scratch = Table("store_errors_scratch", MetaData(), Column("id", Integer, primary_key=True), Column("name", String(20)))


@pytest.fixture
def scratch_table(store: SqlStore) -> Iterator[Table]:
    scratch.create(store._engine)
    yield scratch
    scratch.drop(store._engine)


def test_an_unexpected_integrity_error_surfaces(store: SqlStore, scratch_table: Table) -> None:
    with store.database.transaction("insert") as connection:
        connection.execute(insert(scratch_table).values(id=1, name="one"))
    with pytest.raises(IntegrityError), store.database.transaction("insert") as connection:
        connection.execute(insert(scratch_table).values(id=1, name="again"))


def test_translate_errors_names_the_action_and_keeps_the_cause() -> None:
    store = SqlStore(f"postgresql://postgres@127.0.0.1:{closed_port()}/headway")
    with (
        pytest.raises(StoreUnavailableError, match=r"^cannot count the rows: OperationalError$") as caught,
        translate_errors("count the rows"),
        store._engine.connect(),
    ):
        pass
    assert caught.value.__cause__ is not None
    store.close()


def test_portable_statements_behave_alike(store: SqlStore, scratch_table: Table) -> None:
    database = store.database
    with database.transaction("seed") as connection:
        connection.execute(database.insert_ignoring_conflicts(scratch_table), [{"id": 1, "name": "one"}, {"id": 2, "name": "two"}])
        connection.execute(database.insert_ignoring_conflicts(scratch_table), [{"id": 1, "name": "ignored"}, {"id": 3, "name": "three"}])
        connection.execute(database.upsert(scratch_table, key=["id"], update=["name"]), [{"id": 2, "name": "TWO"}, {"id": 4, "name": "four"}])
    with database.connect() as connection:
        rows = dict(connection.execute(select(scratch_table.c.id, scratch_table.c.name).order_by(scratch_table.c.id)).all())  # type: ignore[arg-type]
    assert rows == {1: "one", 2: "TWO", 3: "three", 4: "four"}


def test_claims_skip_rows_another_claimer_holds(store: SqlStore, scratch_table: Table) -> None:
    database = store.database
    with database.transaction("seed") as connection:
        connection.execute(insert(scratch_table), [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}])
    first_claim = database.claim(select(scratch_table.c.id).order_by(scratch_table.c.id).limit(1))
    if store._engine.dialect.name == "sqlite":
        # SQLite serialises writers: the claim transaction holds the write lock, so a
        # second claimer waits rather than reading the same row.
        assert "FOR UPDATE" not in str(first_claim)
        return
    with database.transaction("claim") as one, database.transaction("claim") as two:
        assert one.execute(first_claim).scalar() == 1
        assert two.execute(first_claim).scalar() == 2  # row 1 is locked by the first claimer: skipped


def test_a_lock_wait_that_runs_out_is_store_unavailable(store: SqlStore, scratch_table: Table) -> None:
    """Another writer holds the lock past the wait: an outage for now, not a bug."""
    with store.database.transaction("seed") as connection:
        connection.execute(insert(scratch_table).values(id=1, name="one"))
    sqlite = store._engine.dialect.name == "sqlite"
    impatient = SqlStore(store.url, engine=create_engine(store._engine.url, connect_args={"timeout": 0.1}) if sqlite else None)
    with store.database.transaction("hold the lock") as holder:
        holder.execute(scratch_table.update().where(scratch_table.c.id == 1).values(name="held"))
        with pytest.raises(StoreUnavailableError, match="cannot update a row"), impatient.database.transaction("update a row") as waiter:
            if not sqlite:
                waiter.exec_driver_sql("SET LOCAL lock_timeout = '100ms'")
            waiter.execute(scratch_table.update().where(scratch_table.c.id == 1).values(name="waited"))
    impatient.close()


def test_a_statement_timeout_is_store_unavailable_and_a_syntax_error_is_not(store: SqlStore) -> None:
    if store._engine.dialect.name == "postgresql":
        with pytest.raises(StoreUnavailableError), store.database.connect("wait") as connection:
            connection.exec_driver_sql("SET statement_timeout = '50ms'")
            connection.exec_driver_sql("SELECT pg_sleep(1)")
    with pytest.raises(SQLAlchemyError) as caught, store.database.connect("run nonsense") as connection:
        connection.exec_driver_sql("SELEC 1")
    assert not isinstance(caught.value, StoreUnavailableError)
