"""The ``retrieval:`` section (query-time settings) and a model's ``retrieval:`` (RAG).

Collections themselves are built by pipelines (``pipelines.definitions.*.index``); this
section only says how queries are answered.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RetrievalConfig(_Section):
    timeout_s: Annotated[float, Field(gt=0, le=120)] = Field(
        2.0, description="Budget for one retrieval; past it a chat request answers without context, flagged."
    )
    default_k: Annotated[int, Field(ge=1, le=100)] = 5
    candidates: Annotated[int, Field(ge=1, le=1000)] = Field(
        50, description="Per-ranker candidates fused by RRF."
    )
    rrf_k: Annotated[int, Field(ge=1, le=1000)] = 60
    min_similarity: Annotated[float, Field(ge=-1, le=1)] = Field(
        0.1,
        description="Vector matches below this cosine similarity are not candidates (lexical matches always are).",
    )
    max_context_chars: Annotated[int, Field(ge=200, le=200_000)] = 6000
    cache_collections: Annotated[int, Field(ge=0, le=1000)] = Field(
        8, description="Collections whose vectors stay in memory for ranking."
    )


class ModelRetrievalConfig(_Section):
    """``models.X.retrieval``: every request to model X is augmented from these collections."""

    collections: Annotated[list[str], Field(min_length=1)]
    k: Annotated[int, Field(ge=1, le=50)] = 4
