"""The in-memory BM25 index: ranks like BM25, stems, follows published versions incrementally,
never ranks a retired chunk, and the store's full text answers until it is current; on SQLite
and PostgreSQL alike (``HEADWAY_TEST_STORE=postgresql``). The document-length prior of the
vector ranking is here too (pure)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from headway.config import RetrievalConfig
from headway.retrieval import index
from headway.retrieval.lexical import Analyzer, LexicalIndex, LexicalStore
from headway.retrieval.search import Passage, document_sizes, prior_ranking
from headway.retrieval.service import Retriever
from headway.store import Database, SqlStore

from .test_store_statements import chunk


def reference_bm25(texts: dict[int, str], query: str) -> list[int]:
    """Okapi BM25 written out plainly (k1 1.2, b 0.75, idf ln(1 + (N − df + ½)/(df + ½)))."""
    analyzer = Analyzer()
    docs = {i: analyzer.terms(t) for i, t in texts.items()}
    average = sum(len(d) for d in docs.values()) / len(docs)
    scores: dict[int, float] = {}
    for term in set(analyzer.terms(query)):
        df = sum(term in d for d in docs.values())
        if not df:
            continue
        idf = math.log(1 + (len(docs) - df + 0.5) / (df + 0.5))
        for i, d in docs.items():
            tf = d.count(term)
            if tf:
                scores[i] = scores.get(i, 0.0) + idf * tf * 2.2 / (
                    tf + 1.2 * (0.25 + 0.75 * len(d) / average)
                )
    return sorted(scores, key=lambda i: (-scores[i], i))


TEXTS = {
    10: "Penguins use their flippers to swim fast through cold water.",
    11: "A penguin colony nests on the rocky shore; penguins swim at dawn.",
    12: "Volcanic soil suits vineyards well.",
    13: "The swimmer swam; swimming is what swimmers do, and they swim daily.",
    14: "Flippers, flippers, flippers: a long note on flippers and nothing else about birds at all.",
    15: "Cold water, cold shore, cold colony.",
}


@pytest.mark.parametrize(
    "query", ["how do penguins swim", "flippers", "cold water colony", "swimming swimmers", "vineyard soils"]
)
def test_the_index_ranks_exactly_like_bm25(query: str) -> None:
    built = LexicalIndex("kb")
    built.add((i, f"d{i}", None, t) for i, t in TEXTS.items())
    assert built.search(query, 10) == reference_bm25(TEXTS, query)
    assert built.search(query, 2) == reference_bm25(TEXTS, query)[:2]


def test_stems_match_other_forms_of_a_word_and_stopwords_match_nothing() -> None:
    built = LexicalIndex("kb")
    built.add((i, f"d{i}", None, t) for i, t in TEXTS.items())
    assert built.search("vineyard", 5) == [12], "vineyards → vineyard"
    assert set(built.search("penguin", 5)) == {10, 11}
    assert built.search("the of and is", 5) == []
    assert built.search("zeppelin", 5) == []


def test_titles_are_indexed_with_the_text() -> None:
    built = LexicalIndex("kb")
    built.add(
        [(1, "a", "The return statement", "Leaves the current call."), (2, "b", None, "Something else.")]
    )
    assert built.search("return", 5) == [1]


def test_dead_chunks_are_never_ranked_and_adding_twice_is_a_no_op() -> None:
    built = LexicalIndex("kb")
    built.add((i, f"d{i}", None, t) for i, t in TEXTS.items())
    assert built.add([(10, "d10", None, "duplicate")]) == 0
    assert built.keep_only(set(TEXTS) - {10}) == 1
    assert built.search("penguins flippers", 10)[:1] != [10]
    assert 10 not in built.search("penguins flippers", 10)
    assert built.size == len(TEXTS) - 1
    assert built.sizes(["d10", "d11", "unknown"]) == {"d11": 1}, (
        "a dead chunk no longer counts for its document"
    )


def load_first(database: Database) -> dict[str, int]:
    with database.transaction() as connection:
        first = index.begin(connection, "kb", embedding_model=None, dimensions=None)
        index.add_chunks(
            connection,
            [
                chunk("kb", "both", "Penguins use their flippers to swim fast.", first),
                chunk("kb", "one", "A penguin colony nests on the rocky shore.", first),
                chunk("kb", "gone", "Penguins and flippers, retired text.", first),
                *(
                    chunk("kb", f"filler{i}", f"Volcanic soil number {i} suits vineyards.", first)
                    for i in range(7)
                ),
            ],
        )
        index.publish(connection, "kb", first, embedding_model=None, dimensions=None)
    return ids_of(database)


def ids_of(database: Database) -> dict[str, int]:
    from sqlalchemy import text

    with database.connect() as connection:
        rows = connection.execute(text("SELECT id, doc_key FROM retrieval_chunks")).all()
    return {doc_key: chunk_id for chunk_id, doc_key in rows}


def test_the_store_keeps_an_index_per_collection_current_incrementally(store: SqlStore) -> None:
    database = store.database
    ids = load_first(database)
    lexical = LexicalStore(database)
    built = lexical.refresh("kb")
    assert built is not None and built.version == 1
    assert set(built.search("penguins flippers", 10)) == {ids["both"], ids["gone"], ids["one"]}

    with database.transaction() as connection:
        second = index.begin(connection, "kb", embedding_model=None, dimensions=None)
        index.retire_documents(connection, "kb", second, ["gone"])
        index.add_chunks(connection, [chunk("kb", "new", "Emperor penguins huddle in winter.", second)])
        index.publish(connection, "kb", second, embedding_model=None, dimensions=None)
    assert lexical.ready("kb", 2) is None, "not current: the caller ranks with the store meanwhile"
    refreshed = lexical.refresh("kb")
    assert refreshed is built, "a new version is applied to the index readers share, not rebuilt"
    assert built.version == 2 and lexical.ready("kb", 2) is built
    ids = ids_of(database)
    found = built.search("penguins flippers huddle", 10)
    assert "gone" not in ids and set(found) == {ids["both"], ids["one"], ids["new"]}
    with database.connect() as connection:
        from_store = document_sizes(connection, "kb", 2, ["both", "gone", "new", "filler1"])
    assert (
        built.sizes(["both", "gone", "new", "filler1"]) == from_store == {"both": 1, "new": 1, "filler1": 1}
    )
    assert found[0] in (ids["both"], ids["new"])


def test_most_chunks_retired_rebuilds_the_index(store: SqlStore) -> None:
    database = store.database
    load_first(database)
    lexical = LexicalStore(database)
    first = lexical.refresh("kb")
    with database.transaction() as connection:
        second = index.begin(connection, "kb", embedding_model=None, dimensions=None)
        index.retire_documents(connection, "kb", second, ["gone", "one", "filler0"])
        index.publish(connection, "kb", second, embedding_model=None, dimensions=None)
    rebuilt = lexical.refresh("kb")
    assert rebuilt is not first and rebuilt is not None
    assert rebuilt.dead == 0 and rebuilt.size == 7


def retriever(database: Database, **config: Any) -> Retriever:
    return Retriever(database, RetrievalConfig(**config), routes={}, executor=None)  # type: ignore[arg-type]


async def test_the_retriever_answers_from_the_store_until_the_index_is_current(store: SqlStore) -> None:
    database = store.database
    ids = load_first(database)
    reader = retriever(database)
    assert reader.lexical is not None
    # Nothing built yet: the store's full text answers and a background build starts.
    first = await reader.retrieve("kb", "penguins flippers", 5, mode="lexical")
    assert reader.stats.lexical_engine["store"] == 1
    matching = {ids["both"], ids["one"], ids["gone"]}
    assert {p.chunk_id for p in first.passages} == matching
    reader.lexical.refresh("kb")
    second = await reader.retrieve("kb", "penguins flippers", 5, mode="lexical")
    assert reader.stats.lexical_engine["memory"] == 1
    assert {p.chunk_id for p in second.passages} == matching
    assert second.passages[-1].chunk_id == ids["one"], "one matching term ranks below two"


async def test_lexical_index_false_always_asks_the_store(store: SqlStore) -> None:
    load_first(store.database)
    reader = retriever(store.database, lexical_index=False)
    assert reader.lexical is None
    reader.published("kb")
    await reader.retrieve("kb", "penguins", 5, mode="lexical")
    await reader.retrieve("kb", "penguins", 5, mode="lexical")
    assert reader.stats.lexical_engine == {"store": 2}


def passage(chunk_id: int, doc_key: str) -> Passage:
    return Passage(chunk_id, "kb", doc_key, None, None, "text", {})


def test_the_document_prior_lets_a_short_document_pass_a_long_ones_chunks() -> None:
    passages = {1: passage(1, "long"), 2: passage(2, "long"), 3: passage(3, "short"), 4: passage(4, "long")}
    scored = [(1, 0.62), (2, 0.61), (3, 0.58), (4, 0.40), (99, 0.9)]  # 99: retired, not fetched
    sizes = {"long": 30, "short": 1}
    # 0.62 − 0.06·ln 30 ≈ 0.416 < 0.58: the one-chunk document comes first.
    assert prior_ranking(scored, passages, sizes, 0.06) == [3, 1, 2, 4]
    assert prior_ranking(scored, passages, sizes, 0.0) == [1, 2, 3, 4]
    assert prior_ranking(scored, passages, {}, 0.06) == [1, 2, 3, 4], "unknown sizes count as one chunk"


def test_document_sizes_count_only_the_chunks_visible_at_the_version(store: SqlStore) -> None:
    database = store.database
    with database.transaction() as connection:
        first = index.begin(connection, "kb", embedding_model=None, dimensions=None)
        rows = [chunk("kb", "long", f"part {i}", first) for i in range(3)] + [
            chunk("kb", "short", "x", first)
        ]
        index.add_chunks(connection, [{**row, "ordinal": n} for n, row in enumerate(rows)])
        index.add_chunks(connection, [chunk("other", "long", "elsewhere", first)])
        index.publish(connection, "kb", first, embedding_model=None, dimensions=None)
        second = index.begin(connection, "kb", embedding_model=None, dimensions=None)
        index.retire_documents(connection, "kb", second, ["short"])
        index.add_chunks(connection, [chunk("kb", "long", "part 3", second)])
    with database.connect() as connection:
        assert document_sizes(connection, "kb", 1, ["long", "short", "missing"]) == {"long": 3, "short": 1}
        assert document_sizes(connection, "kb", second, ["long", "short"]) == {"long": 4}
        assert document_sizes(connection, "kb", 1, []) == {}


async def test_after_a_publish_the_previous_index_answers_until_it_catches_up(store: SqlStore) -> None:
    database = store.database
    ids = load_first(database)
    reader = retriever(database)
    assert reader.lexical is not None
    first = reader.lexical.refresh("kb")
    with database.transaction() as connection:
        second = index.begin(connection, "kb", embedding_model=None, dimensions=None)
        index.retire_documents(connection, "kb", second, ["gone"])
        index.add_chunks(connection, [chunk("kb", "new", "Penguins flippers, newly added.", second)])
        index.publish(connection, "kb", second, embedding_model=None, dimensions=None)
    assert reader.lexical.usable("kb", second) is first, (
        "the previous index, not the store, while catching up"
    )
    result = await reader.retrieve("kb", "penguins flippers", 10, mode="lexical")
    # The refresh started in the background may or may not have finished: either index answers,
    # and a retired chunk is never returned either way.
    assert ids["gone"] not in {p.chunk_id for p in result.passages}
    assert set(reader.stats.lexical_engine) <= {"memory", "memory, catching up"}
    caught_up = reader.lexical.refresh("kb")
    assert caught_up is first and first is not None and first.version == second
    new_id = ids_of(database)["new"]
    after = await reader.retrieve("kb", "penguins flippers", 10, mode="lexical")
    assert new_id in {p.chunk_id for p in after.passages}
    assert reader.lexical.usable("kb", 1) is None, "an index from ahead of the reader's version is not used"


QUERIES = ("penguins flippers", "colony shore", "volcanic vineyards", "emperor huddle winter", "nothing-zzz")


def test_a_start_reads_the_index_back_from_its_file_and_catches_up(store: SqlStore, tmp_path: Any, monkeypatch: Any) -> None:
    database = store.database
    load_first(database)
    first = LexicalStore(database, tmp_path)
    built = first.refresh("kb")
    assert built is not None and (path := first.file_of("kb")) is not None and path.exists()

    def no_build(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("rebuilt from the store instead of read from the file")

    # A second process: the same index, read from the file, without tokenising a chunk.
    with monkeypatch.context() as patched:
        patched.setattr(LexicalStore, "_build", no_build)
        again = LexicalStore(database, tmp_path).refresh("kb")
    assert again is not None and again is not built and again.version == 1
    assert [again.search(q, 10) for q in QUERIES] == [built.search(q, 10) for q in QUERIES]
    assert (again.size, again.total_length, again.sizes(ids_of(database))) == (built.size, built.total_length, built.sizes(ids_of(database)))

    with database.transaction() as connection:  # version 2, while no process was running
        second = index.begin(connection, "kb", embedding_model=None, dimensions=None)
        index.retire_documents(connection, "kb", second, ["gone"])
        index.add_chunks(connection, [chunk("kb", "new", "Emperor penguins huddle in winter.", second)])
        index.publish(connection, "kb", second, embedding_model=None, dimensions=None)
    with monkeypatch.context() as patched:
        patched.setattr(LexicalStore, "_build", no_build)
        caught_up = LexicalStore(database, tmp_path).refresh("kb")  # from the file's version 1
    assert caught_up is not None and caught_up.version == 2
    current = LexicalStore(database).refresh("kb")  # no file: built from the store
    assert current is not None
    assert [caught_up.search(q, 10) for q in QUERIES] == [current.search(q, 10) for q in QUERIES]
    assert ids_of(database)["new"] in caught_up.search("emperor huddle", 3)


def test_an_unreadable_or_foreign_file_is_rebuilt_from_the_store(store: SqlStore, tmp_path: Any) -> None:
    database = store.database
    load_first(database)
    built = LexicalStore(database, tmp_path).refresh("kb")
    assert built is not None
    reference = [built.search(q, 10) for q in QUERIES]
    store_ = LexicalStore(database, tmp_path)
    path = store_.file_of("kb")
    assert path is not None
    whole = path.read_bytes()
    for broken in (whole[: len(whole) // 2], b"not an index", whole + b"\x00"):
        path.write_bytes(broken)
        rebuilt = LexicalStore(database, tmp_path).refresh("kb")
        assert rebuilt is not None and [rebuilt.search(q, 10) for q in QUERIES] == reference
        assert path.read_bytes() == whole  # and written whole again
    # A file for the same collection name of another store is never read: names carry the store.
    other = SqlStore(f"sqlite:///{tmp_path / 'other.db'}")
    other.migrate()
    assert LexicalStore(other.database, tmp_path).file_of("kb") != path
    other.close()
    assert LexicalStore(database).file_of("kb") is None  # no folder: nothing kept


def test_the_retriever_keeps_its_lexical_files_beside_the_ann_files(store: SqlStore, tmp_path: Any) -> None:
    reader = retriever(store.database, ann_dir=str(tmp_path))
    assert reader.lexical is not None and reader.ann is not None
    assert reader.lexical.directory == reader.ann.directory == tmp_path


def test_collections_whose_names_differ_after_a_dot_keep_their_own_files(store: SqlStore, tmp_path: Any) -> None:
    """Both indexes name their files by one rule (``refresher.replica_file``): the suffix is
    appended, so "kb.v1" and "kb.v2" never share the ANN file ``with_suffix`` used to make."""
    from headway.retrieval.ann import AnnStore

    ann, lexical = AnnStore(store.database, tmp_path), LexicalStore(store.database, tmp_path)
    first, second = ann.file_of("kb.v1"), ann.file_of("kb.v2")
    assert first is not None and second is not None and first != second
    assert first.parent == tmp_path and first.name.endswith("-kb.v1.faiss")
    assert lexical.file_of("kb.v1") == first.with_name(first.name.removesuffix(".faiss") + ".lexical")
