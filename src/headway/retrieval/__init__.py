"""Collections and queries over them: chunking, embedders, the versioned index, hybrid ranking and retrieval-augmented chat. See ``README.md``."""

from headway.retrieval.chunking import chunk_text
from headway.retrieval.embedder import LOCAL_PREFIX, Embedder, build_embedder, to_blob
from headway.retrieval.evaluation import evaluate, load_questions
from headway.retrieval.rag import HEADER, augment
from headway.retrieval.service import Retriever

__all__ = [
    "HEADER",
    "LOCAL_PREFIX",
    "Embedder",
    "Retriever",
    "augment",
    "build_embedder",
    "chunk_text",
    "evaluate",
    "load_questions",
    "to_blob",
]
