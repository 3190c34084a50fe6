"""What the one store error translation costs per store call.

    .venv/bin/python bench/store_errors.py [--calls 20000] [--rounds 5] [--store sqlite:///path.db]

Times ``translate_errors`` on its own (a context manager that only acts when a
``SQLAlchemyError`` passes), then one ``SELECT 1`` round trip through the raw engine and
through ``Database.connect`` (translation included), on a real SQLite store (or the
PostgreSQL URL given). Reports the best round's mean per call: the least disturbed
figure on a shared machine. The request hot path makes no store call (records are
written behind), so this is the cost on admin reads, key checks and background writers.
"""

from __future__ import annotations

import argparse
import tempfile
import timeit

from headway.store import SqlStore, translate_errors


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--store", default=None, help="store URL (default: a SQLite file in a temporary folder)")
    args = parser.parse_args()
    folder = tempfile.TemporaryDirectory()
    store = SqlStore(args.store or f"sqlite:///{folder.name}/bench.db")

    def translation_alone() -> None:
        with translate_errors("do nothing"):
            pass

    def raw_engine() -> None:
        with store._engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")

    def through_database() -> None:
        with store.database.connect("select one") as connection:
            connection.exec_driver_sql("SELECT 1")

    try:
        for name, call in (
            ("translate_errors alone", translation_alone),
            ("engine.connect() + SELECT 1", raw_engine),
            ("database.connect() + SELECT 1 (translated)", through_database),
        ):
            best = min(timeit.repeat(call, number=args.calls, repeat=args.rounds)) / args.calls * 1e6
            print(f"{name:45s} {best:8.2f} µs per call")
    finally:
        store.close()
        folder.cleanup()


if __name__ == "__main__":
    main()
