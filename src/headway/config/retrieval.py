"""The ``retrieval:`` section (query-time settings) and a model's ``retrieval:`` (RAG).

Collections themselves are built by pipelines (``pipelines.definitions.*.index``); this
section only says how queries are answered.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from headway.config.section import Section

RetrievalMode = Literal["lexical", "vector", "hybrid"]


class RetrievalConfig(Section):
    timeout_s: Annotated[float, Field(gt=0, le=120)] = Field(
        2.0, description="Budget for one retrieval; past it a chat request answers without context, flagged."
    )
    default_k: Annotated[int, Field(ge=1, le=100)] = 5
    candidates: Annotated[int, Field(ge=1, le=1000)] = Field(
        100, description="Per-ranker candidates fused by RRF."
    )
    rrf_k: Annotated[int, Field(ge=1, le=1000)] = Field(
        10, description="RRF's rank offset; tuned on the bundled development questions (docs/benchmarks.md)."
    )
    mode: RetrievalMode = Field(
        "hybrid",
        description="Default ranking for collections with vectors (a collection's index.mode and a query's "
        "'mode' override it); collections without vectors are always lexical.",
    )
    vector_weight: Annotated[float, Field(ge=0, le=10)] | None = Field(
        None,
        description="Weight of the vector ranking against the lexical one (1.0) in hybrid fusion; default: the "
        "value tuned for the collection's local embeddings model on the bundled development questions "
        "(all-minilm-l6-v2 1.5, all-mpnet-base-v2 2.0; others 1.5; docs/benchmarks.md).",
    )
    doc_prior: Annotated[float, Field(ge=0, le=1)] | None = Field(
        None,
        description="Vector matches rank by cosine similarity minus doc_prior × ln(chunks of their document), "
        "so long documents do not crowd short ones out by their number of chunks alone; default: tuned per "
        "local embeddings model like vector_weight (all-minilm-l6-v2 0.02, all-mpnet-base-v2 0.05; others "
        "0.02). 0 turns it off.",
    )
    lexical_index: bool = Field(
        True,
        description="Rank lexically with an in-memory BM25 index per collection (built off the request path; "
        "the store's full text answers until it is current); false: always the store's full text.",
    )
    ann_dir: str | None = Field(
        None,
        description="Where approximate-nearest-neighbour index files are kept (per replica); default: beside "
        "a SQLite database file, else rebuilt from the store at start-up.",
    )
    ann_nprobe: Annotated[int, Field(ge=1, le=4096)] = Field(
        48, description="Inverted-file cells searched per query for collections past ann_ivf_from vectors."
    )
    ann_ivf_from: Annotated[int, Field(ge=1000)] = Field(
        20_000, description="Collections with fewer vectors are searched exactly."
    )
    local_threads: Annotated[int, Field(ge=1, le=64)] = Field(
        1, description="CPU threads of a local embeddings model."
    )
    min_similarity: Annotated[float, Field(ge=-1, le=1)] = Field(
        0.1,
        description="Vector matches below this cosine similarity are not candidates (lexical matches always are).",
    )
    max_context_chars: Annotated[int, Field(ge=200, le=200_000)] = 6000


class ModelRetrievalConfig(Section):
    """``models.X.retrieval``: every request to model X is augmented from these collections."""

    collections: Annotated[list[str], Field(min_length=1)]
    k: Annotated[int, Field(ge=1, le=50)] = 4
