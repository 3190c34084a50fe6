"""The vector index: kept current incrementally, persisted, shared by readers, exact enough;
modes per collection; the data plane's /metrics series."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from headway.errors import InvalidRequestError
from headway.retrieval.ann import AnnSettings, AnnStore
from headway.retrieval.embedder import from_blob
from headway.retrieval.index import get_collection, visible_at
from headway.retrieval.service import Retriever
from headway.retrieval.tables import retrieval_chunks
from headway.store import Database

DOCS = {
    f"doc{i:02d}.md": f"# Topic {i}\n\nParagraph about subject{i} and widget{i % 7} with gadget{i % 5}.\n\n"
    f"## Detail\n\nMore words on subject{i}: sprocket{i % 3}, flange{i % 11}, lever{i}."
    for i in range(60)
}


def folder_pipeline(path: Path, **index: Any) -> dict[str, Any]:
    return {
        "source": {"type": "folder", "path": str(path)},
        "index": {"collection": "kb", "embeddings": "embed", "chunk_chars": 120, "overlap_chars": 0, **index},
    }


def make_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "kb"
    folder.mkdir()
    for name, text in DOCS.items():
        (folder / name).write_text(text)
    return folder


def visible_vectors(database: Database) -> dict[int, np.ndarray]:
    with database.connect() as connection:
        current = get_collection(connection, "kb")
        assert current is not None
        c = retrieval_chunks.c
        rows = connection.execute(
            select(c.id, c.embedding).where(c.collection == "kb", visible_at(current.active_version))
        )
        return {int(i): from_blob(blob) for i, blob in rows}


async def test_the_index_follows_runs_incrementally_and_never_returns_retired_chunks(
    data_plane: Any, tmp_path: Path
) -> None:
    folder = make_folder(tmp_path)
    plane = data_plane(pipelines={"definitions": {"docs": folder_pipeline(folder)}})
    retriever: Retriever = plane.runtime.retrieval
    assert (await plane.run("docs")).status == "ok"
    ann = retriever.ann.current("kb")
    assert ann is not None and ann.version == 1 and ann.size == len(visible_vectors(plane.database))

    (folder / "doc05.md").write_text("# Topic 5\n\nRewritten: zeppelin hangar maintenance schedule.")
    edited = await plane.run("docs")
    assert edited.counts["changed"] == 1
    same = retriever.ann.current("kb")
    assert same is ann, "a new version is applied to the index readers share, not reloaded"
    assert ann.version == edited.index_version
    result = await retriever.retrieve("kb", "zeppelin hangar maintenance", 3, mode="vector")
    assert result.passages[0].doc_key == "doc05.md" and "zeppelin" in result.passages[0].text
    old = await retriever.retrieve("kb", "More words on subject5 sprocket2 flange5 lever5", 10, mode="vector")
    assert all(p.doc_key != "doc05.md" for p in old.passages), "a retired chunk is never returned"

    unchanged = await plane.run("docs")
    assert unchanged.index_version is None and retriever.ann.current("kb").version == ann.version


async def test_the_index_is_persisted_and_a_restart_applies_only_what_changed(
    data_plane: Any, tmp_path: Path
) -> None:
    folder = make_folder(tmp_path)
    plane = data_plane(pipelines={"definitions": {"docs": folder_pipeline(folder)}})
    await plane.run("docs")
    first: Retriever = plane.runtime.retrieval
    saved = first.ann.file_of("kb")
    assert saved is not None and saved.exists() and saved.stat().st_size > 0

    (folder / "doc07.md").write_text("# Topic 7\n\nA brand new passage on quokka husbandry.")
    # Published by another process: this store's file still says version 1.
    restarted = AnnStore(plane.database, first.ann.directory)
    loaded = restarted._load("kb")
    assert loaded is not None and loaded.version == 1
    await plane.run("docs")
    refreshed = restarted.refresh("kb")
    assert refreshed is not None and refreshed.version == 2
    # Only the new chunk was added to the loaded index; the two retired ones are dropped when met.
    assert refreshed.size == loaded.size + 1
    with plane.database.connect() as connection:
        current = get_collection(connection, "kb")
    assert current is not None and refreshed.version == current.active_version
    # Another restart finds its file current: it serves it as read, without a rebuild.
    again = AnnStore(plane.database, first.ann.directory)
    served = again.ensure("kb", current.active_version)
    assert served is None  # not in memory yet: the first call starts the load in the background
    loaded_again = again.refresh("kb")
    assert loaded_again is not None and again.current("kb") is loaded_again
    assert again.ensure("kb", current.active_version) is loaded_again


async def test_inverted_file_search_recall_against_exact(data_plane: Any, tmp_path: Path) -> None:
    folder = make_folder(tmp_path)
    plane = data_plane(pipelines={"definitions": {"docs": folder_pipeline(folder)}})
    await plane.run("docs")
    vectors = visible_vectors(plane.database)
    # A small corpus: the bench (bench/retrieval_ann.py) measures recall at 100k and 1M.
    store = AnnStore(plane.database, None, AnnSettings(ivf_from=50))
    ann = store.refresh("kb")
    assert ann is not None and type(ann.index).__name__ == "IndexIVFFlat"
    ids = np.array(sorted(vectors))
    matrix = np.vstack([vectors[i] for i in ids])
    hits = total = 0
    by_id = dict(zip(ids.tolist(), range(len(ids)), strict=True))
    for row in matrix[:40]:
        scores = matrix @ row
        tenth = np.sort(scores)[-10]
        found = ann.search(row, 10, -1.0)
        # Hash vectors tie often: a hit is any result scoring at least the exact tenth best.
        hits += sum(1 for i in found if scores[by_id[i]] >= tenth - 1e-6)
        total += 10
    assert hits / total >= 0.98


async def test_collection_modes_and_vector_mode_on_a_lexical_collection(
    data_plane: Any, tmp_path: Path
) -> None:
    folder = make_folder(tmp_path)
    definitions = {
        "docs": folder_pipeline(folder, mode="vector"),
        "plain": {
            "source": {"type": "folder", "path": str(folder)},
            "index": {"collection": "plain", "embeddings": None},
        },
    }
    plane = data_plane(pipelines={"definitions": definitions})
    await plane.run("docs")
    await plane.run("plain")
    retriever: Retriever = plane.runtime.retrieval
    by_collection = await retriever.retrieve("kb", "subject12 lever12", 3)
    assert (by_collection.mode, by_collection.served) == ("vector", "vector")
    assert (await retriever.retrieve("kb", "subject12 lever12", 3, mode="hybrid")).served == "hybrid"
    plain = await retriever.retrieve("plain", "subject12 lever12", 3)
    assert plain.served == "lexical" and plain.passages[0].doc_key == "doc12.md"
    with pytest.raises(InvalidRequestError) as refused:
        await retriever.retrieve("plain", "subject12", 3, mode="vector")
    assert refused.value.param == "mode"


async def test_data_plane_metrics_reach_the_scrape(data_plane: Any, tmp_path: Path) -> None:
    folder = make_folder(tmp_path)
    plane = data_plane(pipelines={"definitions": {"docs": folder_pipeline(folder)}})
    await plane.run("docs")
    for name in list(DOCS)[:40]:
        (folder / name).unlink()  # 40 of 60 documents vanish: the run is degraded
    degraded = await plane.run("docs")
    assert degraded.status == "degraded"
    await plane.runtime.retrieval.retrieve("kb", "subject3", 3, mode="hybrid")
    await plane.runtime.retrieval.retrieve("kb", "nothing-matches-this-zzz", 3, mode="lexical")
    lexical = plane.runtime.retrieval.lexical
    assert lexical is not None  # on by default
    await asyncio.to_thread(lexical.refresh, "kb")  # what the background refresh does after a publish
    text = plane.runtime.observability.metrics.render().decode()
    assert 'headway_retrieval_lexical_version{collection="kb"} 1.0' in text
    # The lexical index holds the chunks the vector index holds: the last good version's.
    vectors = next(line for line in text.splitlines() if line.startswith('headway_retrieval_ann_vectors{collection="kb"}'))
    assert f'headway_retrieval_lexical_chunks{{collection="kb"}} {vectors.split()[-1]}' in text
    assert float(vectors.split()[-1]) >= 60
    assert 'headway_pipeline_runs_total{pipeline="docs",status="ok"} 1.0' in text
    assert 'headway_pipeline_runs_total{pipeline="docs",status="degraded"} 1.0' in text
    assert 'headway_pipeline_records_total{change="new",pipeline="docs"} 60.0' in text
    assert 'headway_pipeline_records_total{change="deleted",pipeline="docs"} 40.0' in text
    assert 'headway_retrieval_index_version{collection="kb"} 1.0' in text
    assert 'headway_retrieval_ann_version{collection="kb"} 1.0' in text
    assert 'headway_retrieval_queries_total{mode="hybrid",outcome="hit"} 1.0' in text
    assert 'headway_retrieval_queries_total{mode="lexical",outcome="miss"} 1.0' in text
    assert 'headway_retrieval_latency_seconds_count{mode="hybrid"} 1.0' in text


async def test_concurrent_readers_share_one_build(data_plane: Any, tmp_path: Path) -> None:
    """Many queries arriving while an index is missing start one build, not one each."""
    import threading

    folder = make_folder(tmp_path)
    plane = data_plane(pipelines={"definitions": {"docs": folder_pipeline(folder)}})
    await plane.run("docs")
    store = AnnStore(plane.database, None)
    builds: list[int] = []
    store.on_refreshed = lambda collection, version, seconds: builds.append(version)
    threads = [threading.Thread(target=store.refresh, args=("kb",)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for _ in range(20):
        assert store.ensure("kb", 1) is not None
    assert builds == [1]
