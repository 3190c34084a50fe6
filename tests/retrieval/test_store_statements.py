"""The statements retrieval asks the store for (full-text ranking, planner statistics) and the
store's one error translation under the pipelines' repository, on SQLite and PostgreSQL alike
(``HEADWAY_TEST_STORE=postgresql``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from headway.errors import StoreUnavailableError
from headway.pipelines.repository import PipelineRepository
from headway.retrieval import index
from headway.retrieval.search import lexical_ranking
from headway.store import Database, SqlStore, full_text_ranking, normalise_url


def chunk(collection: str, doc_key: str, body: str, version: int) -> dict[str, object]:
    return {
        "collection": collection,
        "doc_key": doc_key,
        "ordinal": 0,
        "title": None,
        "source": None,
        "text": body,
        "metadata": {},
        "content_hash": doc_key,
        "embedding": None,
        "added_version": version,
    }


def load(database: Database) -> dict[str, int]:
    """Two versions of ``kb`` (``gone`` retired in the second) and a neighbour collection."""
    with database.transaction() as connection:
        first = index.begin(connection, "kb", embedding_model=None, dimensions=None)
        index.add_chunks(
            connection,
            [
                chunk("kb", "both", "Penguins use their flippers to swim fast.", first),
                chunk("kb", "one", "A penguin colony nests on the rocky shore.", first),
                chunk("kb", "none", "Volcanic soil suits vineyards well.", first),
                chunk("kb", "gone", "Penguins and flippers, retired text.", first),
            ],
        )
        index.publish(connection, "kb", first, embedding_model=None, dimensions=None)
        other = index.begin(connection, "other", embedding_model=None, dimensions=None)
        index.add_chunks(connection, [chunk("other", "elsewhere", "Penguins flippers swim.", other)])
        index.publish(connection, "other", other, embedding_model=None, dimensions=None)
        second = index.begin(connection, "kb", embedding_model=None, dimensions=None)
        index.retire_documents(connection, "kb", second, ["gone"])
        index.publish(connection, "kb", second, embedding_model=None, dimensions=None, analyze=True)
    with database.connect() as connection:
        rows = connection.execute(text("SELECT id, doc_key FROM retrieval_chunks")).all()
    return {doc_key: chunk_id for chunk_id, doc_key in rows}


def test_full_text_ranking_ranks_best_first_within_the_collection_and_version(store: SqlStore) -> None:
    ids = load(store.database)
    with store.database.connect() as connection:
        ranked = lexical_ranking(connection, "kb", 2, "how do penguins use flippers", 10)
        top = lexical_ranking(connection, "kb", 2, "how do penguins use flippers", 1)
        nothing = lexical_ranking(connection, "kb", 2, "the of and", 10)
    # Both terms beat one; no match, another collection and a retired chunk are absent.
    assert ranked == [ids["both"], ids["one"]]
    assert top == [ids["both"]]
    assert nothing == []


def test_full_text_ranking_binds_the_callers_parameters(store: SqlStore) -> None:
    ids = load(store.database)
    with store.database.connect() as connection:
        statement = full_text_ranking(
            connection,
            table="retrieval_chunks",
            fts_table="retrieval_fts",
            tsvector="tsv",
            where="t.doc_key = :key",
            terms=["penguins"],
            limit=5,
        )
        found = [row[0] for row in connection.execute(statement, {"key": "elsewhere"})]
    assert found == [ids["elsewhere"]]


def test_refresh_statistics_analyzes_on_postgresql_only(store: SqlStore, store_url: str) -> None:
    load(store.database)  # the last publish asked for statistics
    with store.database.connect() as connection:
        if store_url.startswith("postgresql"):
            analyzed = connection.execute(
                text("SELECT last_analyze FROM pg_stat_user_tables WHERE relname = 'retrieval_chunks'")
            ).scalar_one()
            assert analyzed is not None
        else:
            stats = connection.execute(
                text("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")
            ).scalar_one()
            assert stats == 0


def test_database_says_where_a_sqlite_file_lives(store: SqlStore, store_url: str) -> None:
    if store_url.startswith("sqlite"):
        assert store.database.file_path == Path(store_url.removeprefix("sqlite:///"))
    else:
        assert store.database.file_path is None
    assert store.database.identity == str(make_url(normalise_url(store_url)))


def test_pipeline_repository_reports_an_outage_as_store_unavailable() -> None:
    unreachable = create_engine("postgresql+psycopg://postgres@127.0.0.1:1/none", poolclass=NullPool)
    try:
        with pytest.raises(StoreUnavailableError, match="read pipeline state"):
            PipelineRepository(Database(unreachable)).history("p")
    finally:
        unreachable.dispose()


def test_pipeline_repository_lets_a_bug_surface(store: SqlStore) -> None:
    with store.database.transaction() as connection:
        connection.execute(text("DROP TABLE pipeline_runs"))
    with pytest.raises(SQLAlchemyError) as raised:
        PipelineRepository(store.database).history("p")
    assert not isinstance(raised.value, StoreUnavailableError)
