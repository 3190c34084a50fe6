"""Incremental runs: unchanged re-runs embed nothing, edits re-embed only what changed, deletions leave the index."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.http import request

DOCS = {
    "alpha.md": "# Alpha\n\nAlpha rotates the signing keys every night.\n\n## Ports\n\nAlpha listens on port 7001.",
    "beta.txt": "Beta exports invoices to the ledger at midnight.",
    "gamma.html": "<html><head><title>Gamma</title><style>p{}</style></head><body><h1>Gamma</h1>"
    "<p>Gamma resizes storefront images.</p><script>var x = 'never indexed';</script></body></html>",
}


def embedding_calls(sim: Any) -> int:
    return int(request("GET", f"{sim.url}/sim/stats").json()["by_endpoint"].get("embeddings", 0))


def folder_pipeline(path: Path) -> dict[str, Any]:
    return {
        "source": {"type": "folder", "path": str(path)},
        "index": {"collection": "kb", "embeddings": "embed", "chunk_chars": 300, "overlap_chars": 50},
    }


async def passages(plane: Any, query: str, k: int = 5) -> list[Any]:
    return (await plane.runtime.retrieval.retrieve("kb", query, k)).passages


async def test_folder_runs_are_incremental(data_plane: Any, tmp_path: Path, sim: Any) -> None:
    folder = tmp_path / "kb"
    folder.mkdir()
    for name, text in DOCS.items():
        (folder / name).write_text(text)
    plane = data_plane(pipelines={"definitions": {"docs": folder_pipeline(folder)}})

    first = await plane.run("docs")
    assert first.status == "ok" and first.counts["new"] == 3 and first.counts["chunks_embedded"] >= 3
    top = await passages(plane, "which port does alpha listen on")
    assert top[0].doc_key == "alpha.md" and "7001" in top[0].text
    gamma = await passages(plane, "storefront images")
    assert gamma[0].doc_key == "gamma.html" and gamma[0].title.startswith("Gamma")
    assert all("never indexed" not in p.text for p in await passages(plane, "never indexed"))

    before = embedding_calls(sim)
    again = await plane.run("docs")
    assert (again.counts["unchanged"], again.counts["new"], again.counts["changed"]) == (3, 0, 0)
    assert again.counts.get("chunks_embedded", 0) == 0
    assert embedding_calls(sim) == before, "an unchanged re-run must not call the embeddings model"

    # Edit one section of alpha: only its new chunk is embedded; the other is reused by hash.
    (folder / "alpha.md").write_text(DOCS["alpha.md"].replace("7001", "7002"))
    edited = await plane.run("docs")
    assert (edited.counts["changed"], edited.counts["unchanged"]) == (1, 2)
    assert edited.counts["chunks_embedded"] == 1 and edited.counts["chunks_reused"] >= 1
    top = await passages(plane, "which port does alpha listen on")
    assert "7002" in top[0].text and all("7001" not in p.text for p in top)

    (folder / "beta.txt").unlink()
    removed = await plane.run("docs")
    assert removed.counts["deleted"] == 1
    assert all(p.doc_key != "beta.txt" for p in await passages(plane, "invoices ledger midnight", 10))
    assert "beta.txt" not in plane.repository.record_hashes("docs")


async def test_pdf_documents_are_read(data_plane: Any, tmp_path: Path) -> None:
    pypdf = pytest.importorskip("pypdf")
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    folder = tmp_path / "kb"
    folder.mkdir()
    writer = pypdf.PdfWriter()
    page = writer.add_blank_page(width=300, height=200)
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    page[NameObject("/Resources")] = DictionaryObject(
        {NameObject("/Font"): DictionaryObject({NameObject("/F1"): writer._add_object(font)})}
    )
    stream = DecodedStreamObject()
    stream.set_data(b"BT /F1 12 Tf 20 100 Td (Quokka audits run every quarter) Tj ET")
    page[NameObject("/Contents")] = writer._add_object(stream)
    with (folder / "audit.pdf").open("wb") as handle:
        writer.write(handle)
    plane = data_plane(pipelines={"definitions": {"docs": folder_pipeline(folder)}})
    run = await plane.run("docs")
    assert run.status == "ok" and run.counts["new"] == 1
    top = await passages(plane, "quokka audits")
    assert top and top[0].doc_key == "audit.pdf" and "every quarter" in top[0].text


async def test_sql_source_with_cursor_propagates_updates_and_deletions(
    data_plane: Any, tmp_path: Path
) -> None:
    db = tmp_path / "app.db"
    with sqlite3.connect(db) as connection:
        connection.execute(
            "CREATE TABLE articles (id INTEGER PRIMARY KEY, title TEXT, body TEXT, updated_at TEXT)"
        )
        connection.executemany(
            "INSERT INTO articles VALUES (?, ?, ?, ?)",
            [
                (i, f"Article {i}", f"Body of article {i} about topic{i}", f"2026-01-0{i}T00:00:00")
                for i in range(1, 6)
            ],
        )
    source = {
        "type": "sql",
        "url": f"sqlite:///{db}",
        "query": "SELECT id, title, body, updated_at FROM articles",
        "key": "id",
        "cursor": "updated_at",
    }
    index = {"collection": "kb", "text_fields": ["body"], "title_field": "title", "embeddings": "embed"}
    plane = data_plane(pipelines={"definitions": {"articles": {"source": source, "index": index}}})
    first = await plane.run("articles")
    assert (first.counts["read"], first.counts["new"]) == (5, 5)

    second = await plane.run("articles")
    assert second.counts["read"] == 0, "the cursor skips rows already read"

    with sqlite3.connect(db) as connection:
        connection.execute(
            "UPDATE articles SET body = 'Rewritten: zebra migration facts', updated_at = '2026-02-01T00:00:00' WHERE id = 2"
        )
        connection.execute("DELETE FROM articles WHERE id = 4")
    third = await plane.run("articles")
    assert (third.counts["read"], third.counts["changed"], third.counts["deleted"]) == (1, 1, 1)
    top = await passages(plane, "zebra migration")
    assert top[0].doc_key == "2" and top[0].title == "Article 2"
    assert all(p.doc_key != "4" for p in await passages(plane, "topic4", 10))


async def test_a_failed_embedding_leaves_the_last_good_index(
    data_plane: Any, tmp_path: Path, sim: Any
) -> None:
    folder = tmp_path / "kb"
    folder.mkdir()
    (folder / "a.md").write_text("Original walrus text.")
    plane = data_plane(pipelines={"definitions": {"docs": folder_pipeline(folder)}})
    assert (await plane.run("docs")).status == "ok"
    (folder / "a.md").write_text("Replacement narwhal text.")
    request(
        "POST", f"{sim.url}/sim/faults", b'{"fault": "500", "model": "text-embedding-3-small", "count": 50}'
    )
    try:
        failed = await plane.run("docs")
    finally:
        request("DELETE", f"{sim.url}/sim/faults")
    assert failed.status == "failed" and "Embedding" in (failed.error or "")
    assert plane.alerts[("docs", "run_failed")] == 1
    top = await passages(plane, "walrus")
    assert top and "walrus" in top[0].text
    recovered = await plane.run("docs")
    assert recovered.status == "ok" and recovered.counts["changed"] == 1
    assert "narwhal" in (await passages(plane, "narwhal"))[0].text
