"""``BulkInsert``: every row lands (or is skipped, or updates) exactly as one-row inserts would,
and on SQLite it takes one statement per chunk of rows, not one step per row.

The second property is why it exists: SQLite's module releases the GIL around each step, and
a writer thread taking it back from a busy event loop once per row cost ~36 µs of CPU and
~0.43 ms of wall per row (``docs/benchmarks.md``, stop 17). Timing is measured in bench/,
never here; what is asserted is the statement count, which is what makes the difference.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
import sqlalchemy as sa

from headway.store import BulkInsert
from headway.store.sql import SqlStore

pytestmark = pytest.mark.store

metadata = sa.MetaData()
items = sa.Table(
    "bulk_items", metadata,
    sa.Column("key", sa.String(40), primary_key=True),
    sa.Column("n", sa.Integer, nullable=False),
    sa.Column("body", sa.Text),
    sa.Column("blob", sa.LargeBinary),
)


@pytest.fixture
def engine(store_url: str) -> Any:
    engine = SqlStore(store_url).database._engine
    metadata.create_all(engine)
    yield engine
    metadata.drop_all(engine)


def statements(engine: Any) -> list[tuple[str, bool]]:
    seen: list[tuple[str, bool]] = []
    sa.event.listen(engine, "before_cursor_execute",
                    lambda conn, cursor, statement, params, context, many: seen.append((statement, many)))
    return seen


def rows(start: int, count: int, n: int = 0) -> list[tuple[Any, ...]]:
    return [(f"k{i:05d}", n, f'{{"i": {i}, "text": "it\'s ünïcode"}}', bytes([i % 256]) * 3 if i % 2 else None)
            for i in range(start, start + count)]


def test_rows_land_whole_duplicates_are_skipped_and_the_count_is_what_changed(engine: Any) -> None:
    insert = BulkInsert(engine, items)
    seen = statements(engine)
    with engine.begin() as connection:
        assert insert.execute(connection, rows(0, 1000)) == 1000
    with engine.begin() as connection:  # 500 already there: skipped, not counted
        assert insert.execute(connection, rows(500, 1000)) == 500
    with engine.begin() as connection:
        got = connection.execute(sa.select(items).order_by(items.c.key)).all()
    assert [tuple(r) for r in got] == rows(0, 1500)
    if engine.dialect.name == "sqlite":
        assert not any(many for _, many in seen)  # never executemany: one step per row
        per = insert._rows_per_statement
        assert per is not None and per > 1
        inserts = [statement for statement, _ in seen if statement.startswith("INSERT")]
        # Full statements, then the rest in powers of two (a few distinct statements, each cached).
        assert len(inserts) == (1000 // per + bin(1000 % per).count("1")) * 2
        assert len(set(inserts)) <= 1 + (per - 1).bit_length()


def test_an_upsert_overwrites_across_statement_boundaries(engine: Any) -> None:
    insert = BulkInsert(engine, items, key=["key"], update=["n", "body", "blob"])
    with engine.begin() as connection:
        insert.execute(connection, rows(0, 700, n=1))
        insert.execute(connection, rows(300, 700, n=2))
    with engine.begin() as connection:
        got = dict(connection.execute(sa.select(items.c.key, items.c.n)).all())
    assert len(got) == 1000
    assert {got[f"k{i:05d}"] for i in range(300)} == {1} and {got[f"k{i:05d}"] for i in range(300, 1000)} == {2}


def test_a_low_variable_limit_is_respected(engine: Any) -> None:
    """Python may link an older SQLite (999 bound variables before 3.32): statements fit it."""
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's bound-variable limit")
    engine.dispose()
    sa.event.listen(engine, "connect", lambda dbapi, record: dbapi.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 10))
    insert = BulkInsert(engine, items)
    seen = statements(engine)
    with engine.begin() as connection:
        assert insert.execute(connection, rows(0, 25)) == 25
    assert insert._rows_per_statement == 2  # 10 variables, 4 columns
    assert len([statement for statement, _ in seen if statement.startswith("INSERT")]) == 13


def test_sqlite_binds_none_bytes_and_bools_as_before_through_the_stores_adapters(tmp_path: Any) -> None:
    # A SQLite store registers identity adapters for None, bytes and bool so the driver skips
    # its adaptation search (a formatted AttributeError per value; the saving is measured in
    # bench/instructions.py). What must hold is that nothing stored changes: NULL, the same
    # BLOB, 0/1 as INTEGER — and that a value with its own __conform__ still adapts itself.
    engine = SqlStore(f"sqlite:///{tmp_path}/adapt.db").database._engine
    for value in (None, b"", b"\x00\xff", True, False):
        assert (type(value), sqlite3.PrepareProtocol) in sqlite3.adapters

    class Conforming:
        def __conform__(self, protocol: Any) -> str:
            return "conformed"

    with engine.connect() as connection:
        driver = connection.connection.driver_connection
        driver.execute("CREATE TABLE bound (v)")
        values = [None, b"", b"\x00\xff", True, False, Conforming()]
        driver.executemany("INSERT INTO bound VALUES (?)", [(v,) for v in values])
        stored = driver.execute("SELECT v, typeof(v) FROM bound ORDER BY rowid").fetchall()
    assert stored == [
        (None, "null"), (b"", "blob"), (b"\x00\xff", "blob"), (1, "integer"), (0, "integer"), ("conformed", "text"),
    ]
