"""The same pipelines and retrieval on PostgreSQL: full-text + numpy-ranked vectors, SKIP LOCKED jobs, slot claims."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from headway.pipelines.repository import PipelineRepository
from headway.pipelines.run_queue import RunQueue

pytestmark = pytest.mark.postgres
ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@pytest.fixture
def pg_url() -> Iterator[str]:
    name = f"headway_pipelines_{uuid.uuid4().hex[:10]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # no server: the suite runs without PostgreSQL too
        pytest.skip(f"PostgreSQL not available: {exc.__class__.__name__}")
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


async def test_sql_source_index_and_retrieval_on_postgres(data_plane: Any, pg_url: str) -> None:
    source_engine = create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://"), poolclass=NullPool)
    with source_engine.begin() as connection:
        connection.execute(text("CREATE TABLE faq (id serial PRIMARY KEY, question text, answer text, updated_at timestamptz)"))
        connection.execute(
            text("INSERT INTO faq (question, answer, updated_at) VALUES (:q, :a, now() - (:n || ' hours')::interval)"),
            [{"q": f"How do I reset token {i}?", "a": f"Open settings and rotate credential {i} with the otter button", "n": str(i)} for i in range(1, 21)],
        )
    source = {"type": "sql", "url": pg_url, "query": "SELECT id, question, answer, updated_at FROM faq", "key": "id", "cursor": "updated_at"}
    index = {"collection": "faq", "embeddings": "embed", "text_fields": ["question", "answer"], "title_field": "question"}
    checks = [{"check": "freshness", "field": "updated_at", "warn": 86400}]
    plane = data_plane(store=pg_url, pipelines={"definitions": {"faq": {"source": source, "index": index, "checks": checks}}})
    first = await plane.run("faq")
    assert first.status == "ok" and first.counts["new"] == 20, first.error
    assert first.checks[0]["level"] == "ok"
    result = await plane.runtime.retrieval.retrieve("faq", "rotate credential 7 otter", 3)
    assert result.passages[0].doc_key == "7"
    assert set(result.passages[0].ranks) == {"lexical", "vector"}

    with source_engine.begin() as connection:
        connection.execute(text("DELETE FROM faq WHERE id = 7"))
        connection.execute(text("UPDATE faq SET answer = 'Call the pelican desk', updated_at = now() WHERE id = 3"))
    second = await plane.run("faq")
    assert (second.counts["read"], second.counts["changed"], second.counts["deleted"]) == (1, 1, 1)
    after = await plane.runtime.retrieval.retrieve("faq", "rotate credential 7 otter", 20)
    assert all(p.doc_key != "7" for p in after.passages)
    assert (await plane.runtime.retrieval.retrieve("faq", "pelican desk", 1)).passages[0].doc_key == "3"
    source_engine.dispose()


async def test_jobs_and_slots_are_claimed_once_across_workers(data_plane: Any, pg_url: str, tmp_path: Path) -> None:
    plane = data_plane(store=pg_url)
    queue = RunQueue(plane.database)
    for index in range(8):
        queue.enqueue(f"p{index}", trigger="api", max_attempts=3)

    def drain(worker: str) -> list[str]:
        engine = create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://"), poolclass=NullPool)
        mine, own = [], RunQueue(engine)
        while (job := own.claim(worker, 60)) is not None:
            mine.append(job.job_id)
        engine.dispose()
        return mine

    with ThreadPoolExecutor(4) as pool:
        claimed = [job for jobs in pool.map(drain, ["w1", "w2", "w3", "w4"]) for job in jobs]
    assert len(claimed) == 8 and len(set(claimed)) == 8

    repository = PipelineRepository(plane.database)
    with ThreadPoolExecutor(4) as pool:
        wins = list(pool.map(lambda owner: repository.claim_slot("p0", 1_800_000_000.0, owner), ["a", "b", "c", "d"]))
    assert wins.count(True) == 1
